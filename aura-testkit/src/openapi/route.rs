//! Finding the operation of a request: the spec's path templates against the request's path.

/// One segment of a path template: `repos`, `{owner}` or `{name}.json`.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Variable {
        prefix: String,
        name: String,
        suffix: String,
    },
}

/// A path template of the spec (`/repos/{owner}/{repo}`), split into segments.
#[derive(Debug, Clone)]
pub(super) struct Template {
    /// The template as the spec writes it (the key under `paths`).
    pub(super) text: String,
    segments: Vec<Segment>,
}

impl Template {
    pub(super) fn parse(text: &str) -> Self {
        let segments = split(text)
            .map(|segment| match (segment.find('{'), segment.rfind('}')) {
                (Some(open), Some(close)) if open < close => Segment::Variable {
                    prefix: segment[..open].to_owned(),
                    name: segment[open + 1..close].to_owned(),
                    suffix: segment[close + 1..].to_owned(),
                },
                _ => Segment::Literal(segment.to_owned()),
            })
            .collect();
        Self {
            text: text.to_owned(),
            segments,
        }
    }

    /// The path variables when `path` (percent-encoded, without the base path) fits the
    /// template, one segment per variable; the values are percent-decoded.
    pub(super) fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = split(path).collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut variables = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) => {
                    if percent_decode(part) != *literal {
                        return None;
                    }
                }
                Segment::Variable { prefix, name, suffix } => {
                    let value = part
                        .strip_prefix(prefix.as_str())
                        .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                        .filter(|value| !value.is_empty())?;
                    variables.push((name.clone(), percent_decode(value)));
                }
            }
        }
        Some(variables)
    }

    /// How specific the template is, for choosing among several that match: literal segments
    /// win over variables, the first segment that differs deciding (`/users/me` before
    /// `/users/{id}`).
    pub(super) fn specificity(&self) -> Vec<bool> {
        self.segments
            .iter()
            .map(|segment| matches!(segment, Segment::Literal(_)))
            .collect()
    }
}

/// The non-empty segments of a path (a trailing slash is not a segment).
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The path of a server URL (`https://api.example.com/v1` → `/v1`), with server variables
/// left as written and no trailing slash; `""` for none.
pub(super) fn base_path(server_url: &str) -> String {
    let after_scheme = match server_url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => server_url,
    };
    after_scheme.trim_end_matches('/').to_owned()
}

/// `%XX` escapes decoded (invalid ones kept as written; bytes that are not UTF-8 replaced).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            // Both are hex digits (below 16): the byte fits.
            decoded.push((high * 16 + low) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

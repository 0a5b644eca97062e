//! Names: action keys from `operationId`s, app ids from titles, input names from parameter
//! names, versions coerced to semver, and descriptions cut to size.

use aura_core::key::MAX_KEY_LEN;

/// A valid action key from an `operationId`: `repos/get` → `repos_get`, `listPets` →
/// `list_pets`, `getHTTPStatus` → `get_http_status`. `None` when nothing usable is left.
pub(crate) fn key_from_operation_id(id: &str) -> Option<String> {
    // Only the start can end up in a key: an absurdly long id costs no more than a short one.
    let snake = snake_case(cut_ascii(id, 4 * MAX_KEY_LEN));
    finish_key(snake, "op_")
}

/// A key from a method and a path: `GET /repos/{owner}/{repo}` → `get_repos_owner_repo`.
pub(crate) fn key_from_method_path(method: &str, path: &str) -> String {
    let snake = snake_case(&format!("{method}_{}", cut_ascii(path, 4 * MAX_KEY_LEN)));
    finish_key(snake, "op_").unwrap_or_else(|| method.to_ascii_lowercase())
}

/// An app id from a title: `GitHub v3 REST API` → `github_v3_rest_api`.
pub(crate) fn app_id_from_title(title: &str) -> String {
    let lower: String = title.chars().map(|c| c.to_ascii_lowercase()).collect();
    finish_key(separate(&lower), "app_").unwrap_or_else(|| "openapi".to_owned())
}

/// `key` with `_n` appended, cut so that the whole is a valid key.
pub(crate) fn with_suffix(key: &str, n: usize) -> String {
    let suffix = format!("_{n}");
    let keep = MAX_KEY_LEN.saturating_sub(suffix.len());
    let mut base = cut_ascii(key, keep).trim_end_matches('_').to_owned();
    base.push_str(&suffix);
    base
}

/// An input name from a parameter's wire name: kept when it is a plain identifier of at most
/// 64 bytes (`per_page`, `owner`), else snake-cased (`X-GitHub-Api-Version` → `x_github_api_version`,
/// `page[size]` → `page_size`).
pub(crate) fn input_name(wire: &str) -> String {
    let plain = wire.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && wire.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && wire.len() <= MAX_KEY_LEN {
        return wire.to_owned();
    }
    let snake = separate(&cut_ascii(wire, MAX_KEY_LEN).to_ascii_lowercase());
    if snake.is_empty() {
        "param".to_owned()
    } else if snake.starts_with(|c: char| c.is_ascii_digit()) {
        format!("p_{snake}")
    } else {
        snake
    }
}

/// `info.version` as a semver string: kept when it parses, else its leading numbers
/// (`2022-11-28` → `2022.11.28`, `v1` → `1.0.0`, `beta` → `0.0.0`).
pub(crate) fn semver_from(version: &str) -> String {
    let trimmed = version.trim();
    if semver::Version::parse(trimmed).is_ok() {
        return trimmed.to_owned();
    }
    let numbers: Vec<u64> = trimmed
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .take(3)
        .map(|part| part.parse::<u64>().unwrap_or(0))
        .collect();
    let part = |i: usize| numbers.get(i).copied().unwrap_or(0);
    let coerced = format!("{}.{}.{}", part(0), part(1), part(2));
    if semver::Version::parse(&coerced).is_ok() {
        coerced
    } else {
        "0.0.0".to_owned()
    }
}

/// `text` cut to at most `max` bytes at a character boundary, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

/// camelCase and separators to snake_case, keeping only `[a-z0-9_]`.
fn snake_case(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
            let next = chars.get(i + 1).copied();
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase()) && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    separate(&out)
}

/// Every run of characters outside `[a-z0-9]` becomes one `_`; no `_` at either end.
fn separate(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A snake-cased name made a key: starts with a letter (else `prefix` is added), at most
/// [`MAX_KEY_LEN`] bytes.
fn finish_key(snake: String, prefix: &str) -> Option<String> {
    if snake.is_empty() {
        return None;
    }
    let named = if snake.starts_with(|c: char| c.is_ascii_lowercase()) {
        snake
    } else {
        format!("{prefix}{snake}")
    };
    let cut = cut_ascii(&named, MAX_KEY_LEN).trim_end_matches('_').to_owned();
    aura_core::key::Key::new(cut.as_str()).ok().map(|_| cut)
}

/// The first `max` bytes of a string (or less, at a character boundary).
fn cut_ascii(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_become_snake_case_keys() {
        assert_eq!(key_from_operation_id("repos/get").as_deref(), Some("repos_get"));
        assert_eq!(
            key_from_operation_id("issues/list-for-repo").as_deref(),
            Some("issues_list_for_repo")
        );
        assert_eq!(key_from_operation_id("listPets").as_deref(), Some("list_pets"));
        assert_eq!(
            key_from_operation_id("getHTTPStatus").as_deref(),
            Some("get_http_status")
        );
        assert_eq!(key_from_operation_id("2fa.enable").as_deref(), Some("op_2fa_enable"));
        assert_eq!(key_from_operation_id("///"), None);
        let long = "a".repeat(200);
        assert_eq!(key_from_operation_id(&long).map(|k| k.len()), Some(MAX_KEY_LEN));
    }

    #[test]
    fn method_and_path_give_a_key_without_an_operation_id() {
        assert_eq!(
            key_from_method_path("get", "/repos/{owner}/{repo}"),
            "get_repos_owner_repo"
        );
        assert_eq!(key_from_method_path("post", "/"), "post");
    }

    #[test]
    fn suffixes_keep_keys_within_the_length_limit() {
        assert_eq!(with_suffix("list", 2), "list_2");
        let long = "a".repeat(MAX_KEY_LEN);
        let suffixed = with_suffix(&long, 12);
        assert_eq!(suffixed.len(), MAX_KEY_LEN);
        assert!(suffixed.ends_with("_12"));
    }

    #[test]
    fn titles_become_app_ids() {
        assert_eq!(app_id_from_title("GitHub v3 REST API"), "github_v3_rest_api");
        assert_eq!(app_id_from_title("3D Store"), "app_3d_store");
        assert_eq!(app_id_from_title("!!!"), "openapi");
    }

    #[test]
    fn wire_names_that_are_not_identifiers_become_snake_case_input_names() {
        assert_eq!(input_name("per_page"), "per_page");
        assert_eq!(input_name("X-GitHub-Api-Version"), "x_github_api_version");
        assert_eq!(input_name("page[size]"), "page_size");
        assert_eq!(input_name("$$"), "param");
    }

    #[test]
    fn versions_are_coerced_to_semver() {
        assert_eq!(semver_from("1.2.3-beta.1"), "1.2.3-beta.1");
        assert_eq!(semver_from("2022-11-28"), "2022.11.28");
        assert_eq!(semver_from("v1"), "1.0.0");
        assert_eq!(semver_from("1.0"), "1.0.0");
        assert_eq!(semver_from("beta"), "0.0.0");
        assert_eq!(semver_from("99999999999999999999999.1"), "0.1.0");
    }

    #[test]
    fn truncation_cuts_at_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(100), 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
    }
}

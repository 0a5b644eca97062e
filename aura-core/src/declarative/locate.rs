//! The line a JSON path points at in a manifest's text (YAML in block style, or JSON), found
//! by walking the text key by key. Best effort: for flow style it gives the line of the
//! deepest enclosing field it finds.

/// The 1-based line of `pointer` (`/operations/get_task/path`) in `text`.
pub(crate) fn line_of(text: &str, pointer: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut at = 0usize; // the line index of the current node
    let mut indent: Option<usize> = None; // the current node's indentation (None: the root)
    let mut found = None;
    for token in &tokens {
        let index: Option<usize> = token.parse().ok();
        let mut hit = None;
        // A list item's first key sits on the item's own line: `- type: api_key`.
        if let (Some(ind), Some(line)) = (indent, lines.get(at)) {
            let trimmed = line.trim_start();
            if let Some(body) = trimmed.strip_prefix("- ")
                && body.starts_with(&format!("{token}:"))
            {
                hit = Some((at, ind + 2));
            }
        }
        let mut seen = 0usize;
        let from = if indent.is_some() { at + 1 } else { at };
        for (i, line) in lines
            .iter()
            .enumerate()
            .skip(from)
            .take(if hit.is_some() { 0 } else { usize::MAX })
        {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let ind = line.len() - trimmed.len();
            if let Some(parent) = indent
                && ind <= parent
                && !(ind == parent && trimmed.starts_with("- "))
            {
                break;
            }
            let body = trimmed.trim_start_matches("- ");
            if let Some(n) = index
                && trimmed.starts_with('-')
            {
                if seen == n {
                    hit = Some((i, ind));
                    break;
                }
                seen += 1;
                continue;
            }
            let is_key = [
                format!("{token}:"),
                format!("\"{token}\":"),
                format!("'{token}':"),
                format!("\"{token}\" :"),
            ]
            .iter()
            .any(|k| body.starts_with(k.as_str()));
            if is_key {
                hit = Some((i, ind + (trimmed.len() - body.len())));
                break;
            }
        }
        match hit {
            Some((i, ind)) => {
                at = i;
                indent = Some(ind);
                found = Some(i + 1);
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "id: todo\nname: Todo\noperations:\n  list:\n    method: GET\n    path: /tasks\n  create:\n    method: POST\n    params:\n      title: strin\n";

    #[test]
    fn a_yaml_path_finds_its_line() {
        assert_eq!(line_of(YAML, "/operations/create/params/title"), Some(10));
        assert_eq!(line_of(YAML, "/operations/list/path"), Some(6));
        assert_eq!(line_of(YAML, "/name"), Some(2));
    }

    #[test]
    fn a_missing_field_gives_its_parents_line() {
        assert_eq!(line_of(YAML, "/operations/create/path"), Some(7));
    }

    #[test]
    fn a_json_path_finds_its_line() {
        let json = "{\n  \"id\": \"x\",\n  \"operations\": {\n    \"a\": {\n      \"method\": \"GTE\"\n    }\n  }\n}";
        assert_eq!(line_of(json, "/operations/a/method"), Some(5));
    }

    #[test]
    fn list_items_are_counted() {
        let yaml = "auth:\n  - type: bearer\n  - type: api_key\n    in: head\n";
        assert_eq!(line_of(yaml, "/auth/1/in"), Some(4));
        assert_eq!(line_of(yaml, "/auth/1/type"), Some(3));
    }
}

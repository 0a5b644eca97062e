//! Server-sent events, read from a whole streamed answer (the WHATWG `text/event-stream`
//! format both vendors stream in).

/// One event: its type (`message` when unnamed) and its data lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) data: String,
}

/// The events of `body`, in order. Comments (`:` lines), `id` and `retry` fields are skipped;
/// an event without data is no event, as the format says.
pub(crate) fn events(body: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut data: Option<String> = None;
    // `lines` splits on `\n` and `\r\n`; a lone `\r` is rare enough to leave out.
    for line in body.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if let Some(data) = data.take() {
                let name = if name.is_empty() {
                    "message".to_owned()
                } else {
                    std::mem::take(&mut name)
                };
                out.push(Event { name, data });
            }
            name.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => value.clone_into(&mut name),
            "data" => {
                let data = data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_named_and_joined() {
        let body = ": keep-alive\nevent: message_start\ndata: {\"a\":1}\n\ndata: line one\ndata: line two\n\nid: 7\nevent: ping\n\ndata: [DONE]";
        assert_eq!(
            events(body),
            vec![
                Event {
                    name: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    name: "message".into(),
                    data: "line one\nline two".into()
                },
                Event {
                    name: "message".into(),
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn crlf_lines_work_too() {
        assert_eq!(events("data: x\r\n\r\n").len(), 1);
    }
}

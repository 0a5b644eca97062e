//! What a script reads, found without running it: a small JavaScript tokenizer (strings,
//! template literals, comments, regular expression literals) and a pass over its tokens.
//!
//! It answers three questions for the compiler and the runner:
//! - which nodes the script names through `steps` (`steps.score`, `steps?.score`,
//!   `steps["score"]`): the compiler checks them like a mapping's `steps.<id>`;
//! - whether it uses `steps` any other way (`steps[name]`, `Object.keys(steps)`, `const steps
//!   = …`): refused, since the compiler could not check what it reads;
//! - which of the other variables (`trigger`, `item`, `index`, `input`, `execution`) appear at
//!   all, so that a run converts only those;
//! - whether a bracket closes one it did not open: a body with a stray `}` would close the
//!   function it is wrapped in and run code outside it.
//!
//! The tokenizer decides between division and a regular expression literal by the token before
//! the `/`, as every tokenizer without a parser does; QuickJS has already accepted the script
//! when this runs, so only that choice can be wrong, and only in code no one writes.

use std::collections::BTreeSet;

/// Where a token starts in the script: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// What the scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The node ids named through `steps`.
    pub(crate) steps: BTreeSet<String>,
    /// Which of [`VARIABLES`] appear as identifiers (not as property names).
    pub(crate) uses: Uses,
    /// The first thing the compiler must refuse, with where it is.
    pub(crate) problem: Option<(At, String)>,
}

/// The variables a script may read besides `steps`, and whether each appears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    pub(crate) trigger: bool,
    pub(crate) item: bool,
    pub(crate) index: bool,
    pub(crate) input: bool,
    pub(crate) execution: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Ident(String),
    Punct(&'static str),
    Str(String),
    /// A number, a template literal or a regular expression literal: only their place matters.
    Other,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    at: At,
}

/// Punctuators, longest first (only those that change what comes next need be exact).
const PUNCTS: &[&str] = &[
    ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "?.", "=>", "==", "!=", "<=", ">=",
    "&&", "||", "??", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", "{", "}", "(", ")",
    "[", "]", ";", ",", "<", ">", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "?", ":", "=", ".", "@", "#",
];

/// Keywords after which a `/` starts a regular expression literal.
const BEFORE_REGEX: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
    tokens: Vec<Token>,
    /// Open brackets; `'`'` marks a template literal's `${`.
    open: Vec<(char, At)>,
    problem: Option<(At, String)>,
}

/// Scans a script body.
pub(crate) fn scan(source: &str) -> Scan {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
        tokens: Vec::new(),
        open: Vec::new(),
        problem: None,
    };
    lexer.run();
    let mut out = analyse(&lexer.tokens);
    if out.problem.is_none() {
        out.problem = lexer.problem;
    }
    out
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn at(&self) -> At {
        At {
            line: self.line,
            column: self.column,
        }
    }

    fn push(&mut self, kind: Kind, at: At) {
        self.tokens.push(Token { kind, at });
    }

    fn refuse(&mut self, at: At, message: String) {
        if self.problem.is_none() {
            self.problem = Some((at, message));
        }
    }

    fn regex_allowed(&self) -> bool {
        match self.tokens.last().map(|t| &t.kind) {
            None => true,
            Some(Kind::Punct(p)) => !matches!(*p, ")" | "]"),
            Some(Kind::Ident(word)) => BEFORE_REGEX.contains(&word.as_str()),
            Some(Kind::Str(_) | Kind::Other) => false,
        }
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            let at = self.at();
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek(1) == Some('/') => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '/' if self.peek(1) == Some('*') => {
                    self.bump();
                    self.bump();
                    while self.peek(0).is_some() && !(self.peek(0) == Some('*') && self.peek(1) == Some('/')) {
                        self.bump();
                    }
                    self.bump();
                    self.bump();
                }
                '/' if self.regex_allowed() => {
                    self.regex();
                    self.push(Kind::Other, at);
                }
                '\'' | '"' => {
                    let text = self.string(c);
                    self.push(Kind::Str(text), at);
                }
                '`' => {
                    self.bump();
                    self.template_rest(at);
                }
                '}' if self.open.last().is_some_and(|(o, _)| *o == '`') => {
                    self.open.pop();
                    self.bump();
                    self.template_rest(at);
                }
                c if c.is_ascii_digit() || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) => {
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_')
                    {
                        self.bump();
                    }
                    self.push(Kind::Other, at);
                }
                c if c.is_alphabetic() || c == '_' || c == '$' || c == '\\' => {
                    let mut word = String::new();
                    while let Some(c) = self
                        .peek(0)
                        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '\\'))
                    {
                        word.push(c);
                        self.bump();
                    }
                    self.push(Kind::Ident(word), at);
                }
                _ => self.punct(at),
            }
        }
    }

    fn punct(&mut self, at: At) {
        let rest: String = self.chars[self.pos..self.chars.len().min(self.pos + 4)]
            .iter()
            .collect();
        // `?.` followed by a digit is `?` then a number (`a?.5:b`).
        let found = PUNCTS
            .iter()
            .find(|p| rest.starts_with(**p) && !(**p == "?." && rest[2..].starts_with(|c: char| c.is_ascii_digit())))
            .copied();
        let Some(p) = found else {
            // Anything else (a stray character): QuickJS accepted the script, so move on.
            self.bump();
            return;
        };
        for _ in 0..p.chars().count() {
            self.bump();
        }
        match p {
            "(" | "[" | "{" => self.open.push((p.chars().next().unwrap_or('{'), at)),
            ")" | "]" | "}" => {
                let want = match p {
                    ")" => '(',
                    "]" => '[',
                    _ => '{',
                };
                match self.open.pop() {
                    Some((o, _)) if o == want => {}
                    _ => self.refuse(
                        at,
                        format!("`{p}` closes a bracket the script did not open: it would close the function the script runs in"),
                    ),
                }
            }
            _ => {}
        }
        self.push(Kind::Punct(p), at);
    }

    /// A string literal, its value with the simple escapes undone.
    fn string(&mut self, quote: char) -> String {
        self.bump();
        let mut text = String::new();
        while let Some(c) = self.bump() {
            match c {
                c if c == quote => break,
                '\\' => match self.bump() {
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some(other) => text.push(other),
                    None => break,
                },
                '\n' => break,
                c => text.push(c),
            }
        }
        text
    }

    /// The rest of a template literal after its opening '`' or after a `}` closing `${`: up
    /// to its end, or up to the next `${`, whose expression is lexed as code.
    fn template_rest(&mut self, at: At) {
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '`' => break,
                '$' if self.peek(0) == Some('{') => {
                    self.bump();
                    self.open.push(('`', at));
                    self.push(Kind::Punct("("), at);
                    return;
                }
                _ => {}
            }
        }
        self.push(Kind::Other, at);
    }

    fn regex(&mut self) {
        self.bump();
        let mut class = false;
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '[' => class = true,
                ']' => class = false,
                '/' if !class => break,
                '\n' => break,
                _ => {}
            }
        }
        while self.peek(0).is_some_and(char::is_alphanumeric) {
            self.bump();
        }
    }
}

fn analyse(tokens: &[Token]) -> Scan {
    let mut out = Scan::default();
    for (i, token) in tokens.iter().enumerate() {
        let Kind::Ident(word) = &token.kind else {
            continue;
        };
        let prev = i.checked_sub(1).map(|p| &tokens[p].kind);
        let next = |k: usize| tokens.get(i + k).map(|t| &t.kind);
        // A property (`x.steps`) or an object key (`{ steps: … }`) is not the variable.
        if matches!(prev, Some(Kind::Punct("." | "?."))) {
            continue;
        }
        if matches!(prev, Some(Kind::Punct("{" | ","))) && next(1) == Some(&Kind::Punct(":")) {
            continue;
        }
        match word.as_str() {
            "steps" => match step_reference(&tokens[i + 1..]) {
                Some(id) => {
                    out.steps.insert(id);
                }
                None => {
                    if out.problem.is_none() {
                        out.problem = Some((
                            token.at,
                            "`steps` is read as a whole: name each node, `steps.<id>` or `steps[\"<id>\"]`, \
                             so the compiler can check that it runs before this one"
                                .to_owned(),
                        ));
                    }
                }
            },
            "trigger" => out.uses.trigger = true,
            "item" => out.uses.item = true,
            "index" => out.uses.index = true,
            "input" => out.uses.input = true,
            "execution" => out.uses.execution = true,
            _ => {}
        }
    }
    out
}

/// The node id in `.id`, `?.id`, `["id"]` or `?.["id"]` at the start of `rest`.
fn step_reference(rest: &[Token]) -> Option<String> {
    let kinds: Vec<&Kind> = rest.iter().take(4).map(|t| &t.kind).collect();
    match kinds.as_slice() {
        [Kind::Punct("." | "?."), Kind::Ident(id), ..] => Some(id.clone()),
        [Kind::Punct("["), Kind::Str(id), Kind::Punct("]"), ..]
        | [Kind::Punct("?."), Kind::Punct("["), Kind::Str(id), Kind::Punct("]")] => Some(id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(source: &str) -> Vec<String> {
        let scan = scan(source);
        assert_eq!(scan.problem, None, "{source}");
        scan.steps.into_iter().collect()
    }

    #[test]
    fn finds_every_form_of_a_step_reference() {
        assert_eq!(
            steps("return steps.a.output + steps?.b.output + steps['c'].output + steps?.[\"d\"]"),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn ignores_strings_comments_templates_regexes_and_properties() {
        let source = r#"
            // steps.commented
            /* steps.block */
            const s = "steps.in_string" + 'steps[x]';
            const r = /steps[a]\/}/g.test(x.steps);
            const o = { steps: 1, a: b.steps };
            return `steps.text ${ steps.in_template.output } and ${ `${ steps.nested.output }` }`;
        "#;
        assert_eq!(steps(source), ["in_template", "nested"]);
    }

    #[test]
    fn division_is_not_a_regex() {
        assert_eq!(steps("const half = (a) / 2 / steps.x.output; return half"), ["x"]);
        assert_eq!(steps("const r = [1][0] / 2; return steps.y"), ["y"]);
    }

    #[test]
    fn refuses_steps_read_as_a_whole() {
        for source in [
            "return Object.keys(steps)",
            "const name = 'a'; return steps[name]",
            "const { a } = steps; return a",
            "return steps",
        ] {
            let (at, message) = scan(source).problem.expect(source);
            assert!(message.contains("steps.<id>"), "{message}");
            assert_eq!(at.line, 1, "{source}");
        }
    }

    #[test]
    fn refuses_a_body_that_closes_its_function() {
        let (at, message) = scan("return 1;\n}); globalThis.x = 1; (function () {")
            .problem
            .expect("stray }");
        assert_eq!((at.line, at.column), (2, 1));
        assert!(message.contains("closes a bracket"), "{message}");
        // A `}` closing a template's `${` is not stray.
        assert_eq!(scan("return `${ {a: 1}.a }`").problem, None);
    }

    #[test]
    fn tells_which_variables_appear() {
        let uses = scan("return item.x + index + input.y").uses;
        assert!(uses.item && uses.index && uses.input);
        assert!(!uses.trigger && !uses.execution);
        assert!(!scan("return x.trigger + {trigger: 1}").uses.trigger);
    }
}

//! Conditions read straight from the JSON, without minijinja: a plain path (`trigger.active`,
//! tested for truth) or a plain path compared with a literal (`steps.score.output.score > 10`,
//! `input.status == 'paid'`). Anything else — and any value the comparison does not cover
//! plainly (a missing path, mixed types, a huge integer) — is left to minijinja, so that the
//! result and every error are the same as minijinja's.

use serde_json::Value;

use super::{Segment, plain_path};

/// A condition simple enough to test on the JSON itself.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Condition {
    /// What it reads (its root first).
    pub(super) path: Vec<Segment>,
    test: Test,
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    /// Jinja truthiness.
    Truthy,
    Compare(Op, Literal),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Int(i64),
    Float(f64),
    Str(String),
}

/// The operators, two-character ones first so that `>=` is not read as `>`.
const OPS: [(&str, Op); 6] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    (">", Op::Gt),
    ("<", Op::Lt),
];

impl Condition {
    /// `source` as a condition on one path, or `None` when minijinja is needed.
    pub(super) fn parse(source: &str) -> Option<Self> {
        let source = source.trim();
        let Some((at, symbol, op)) = OPS
            .iter()
            .filter_map(|(symbol, op)| source.find(symbol).map(|at| (at, *symbol, *op)))
            .min_by_key(|(at, symbol, _)| (*at, usize::MAX - symbol.len()))
        else {
            return Some(Self {
                path: plain_path(source)?,
                test: Test::Truthy,
            });
        };
        let path = plain_path(&source[..at])?;
        let literal = literal(source[at + symbol.len()..].trim())?;
        Some(Self {
            path,
            test: Test::Compare(op, literal),
        })
    }

    /// Whether the condition holds for `value` (what its path reads), or `None` when
    /// minijinja must decide.
    pub(super) fn holds(&self, value: &Value) -> Option<bool> {
        match &self.test {
            Test::Truthy => Some(match value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => i != 0,
                    (None, Some(f)) if !n.is_u64() => f != 0.0,
                    _ => return None,
                },
                Value::String(s) => !s.is_empty(),
                Value::Array(items) => !items.is_empty(),
                Value::Object(map) => !map.is_empty(),
            }),
            Test::Compare(op, literal) => {
                let ordering = match (value, literal) {
                    (Value::Number(n), Literal::Int(right)) => match n.as_i64() {
                        Some(left) => left.cmp(right),
                        None if n.is_f64() => n.as_f64()?.partial_cmp(&(*right as f64))?,
                        None => return None,
                    },
                    (Value::Number(n), Literal::Float(right)) if n.is_i64() || n.is_f64() => {
                        n.as_f64()?.partial_cmp(right)?
                    }
                    (Value::String(left), Literal::Str(right)) => left.as_str().cmp(right.as_str()),
                    _ => return None,
                };
                Some(match op {
                    Op::Eq => ordering.is_eq(),
                    Op::Ne => ordering.is_ne(),
                    Op::Lt => ordering.is_lt(),
                    Op::Le => ordering.is_le(),
                    Op::Gt => ordering.is_gt(),
                    Op::Ge => ordering.is_ge(),
                })
            }
        }
    }
}

/// A number (`42`, `-3`, `2.5`) or a quoted string without escapes (`'paid'`, `"a b"`).
fn literal(text: &str) -> Option<Literal> {
    let bytes = text.as_bytes();
    match bytes.first()? {
        quote @ (b'\'' | b'"') => {
            let inner = text.get(1..text.len().checked_sub(1)?)?;
            let closed = text.len() >= 2 && bytes.last() == Some(quote);
            let plain = !inner.bytes().any(|b| b == *quote || b == b'\\');
            (closed && plain).then(|| Literal::Str(inner.to_owned()))
        }
        _ => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let (whole, fraction) = match digits.split_once('.') {
                Some((whole, fraction)) => (whole, Some(fraction)),
                None => (digits, None),
            };
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            // `010` and the like are left to minijinja.
            if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
                return None;
            }
            match fraction {
                None => text.parse().ok().map(Literal::Int),
                Some(fraction) if all_digits(fraction) => text.parse().ok().map(Literal::Float),
                Some(_) => None,
            }
        }
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! quick probe
use aura_core::scenario::Scenario;

#[test]
fn probe() {
    let s = Scenario::from_json(r#"{"id":"s","name":"S","nodes":[
      {"id":"t","kind":"trigger","next":["a"]},
      {"id":"a","kind":"set","input":{"x":"{{ trigger.x }}"}},
      {"id":"m","kind":"merge"},
      {"id":"i","kind":"if","config":{"condition":"true"},"routes":{"true":["a"]}}
    ]}"#).unwrap();
    println!("{}", s.to_json().unwrap());
    let y = Scenario::from_yaml("id: s\nname: S\nnodes:\n  - id: t\n    kind: trigger\n    next: [a]\n  - id: a\n    kind: set\n").unwrap();
    println!("{}", y.to_json().unwrap());
}

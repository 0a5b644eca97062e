//! Free-text search over manifests.

use crate::app::AppManifest;

/// How well one query word matches a manifest: 3 for id or name, 2 for a tag, 1 for the
/// description, 0 for no match. A word matches a text when it starts one of the text's words.
fn word_score(word: &str, m: &AppManifest) -> u32 {
    if starts_a_word(&m.id, word) || starts_a_word(&m.name, word) {
        3
    } else if m.tags.iter().any(|t| starts_a_word(t, word)) {
        2
    } else if starts_a_word(&m.description, word) {
        1
    } else {
        0
    }
}

fn starts_a_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.to_lowercase().starts_with(word))
}

/// The manifests every query word matches, best first (ties by id).
pub(super) fn rank<'a>(manifests: impl Iterator<Item = &'a AppManifest>, query: &str) -> Vec<AppManifest> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut hits: Vec<(u32, &AppManifest)> = manifests
        .filter_map(|m| {
            let mut total = 0;
            for w in &words {
                match word_score(w, m) {
                    0 => return None,
                    s => total += s,
                }
            }
            Some((total, m))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    hits.into_iter().map(|(_, m)| m.clone()).collect()
}

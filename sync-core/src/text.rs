//! Three-way merge of free text (notes, how_we_met, descriptions…).
//!
//! A text mutation carries the text the device edited from (`base`) and its new text
//! (`incoming`). The server holds `current`, which may already include other devices' edits.
//! [`merge3`] diffs `base → incoming` and `base → current` and walks both edit lists over the
//! base:
//!
//! - a passage changed on one side only takes that side's version;
//! - a passage changed identically on both sides is taken once;
//! - passages changed differently on both sides (overlapping, or two insertions at the same
//!   point) keep **both** versions, the server's first, and are reported as [`Overlap`]s.
//!
//! So every piece of text the incoming edit inserted is in the result, and text the server
//! had is only removed where the incoming edit deleted it from a passage nobody else touched.
//!
//! Diffing is word-level: a token is a run of alphanumeric characters or any single other
//! character, so edits in different words merge cleanly while a word changed on both sides
//! is one overlap. The common prefix and suffix are trimmed first (most note edits are
//! small), and the remaining middle is diffed with Myers' algorithm from the `similar` crate
//! (maintained, no dependencies, exact minimal diffs on token slices). Should the middle
//! exceed [`MAX_DIFF_TOKENS`] tokens, it is treated as one replaced passage rather than diffed,
//! which bounds the time of a merge (nothing is lost, the merge is just coarser).

use std::ops::Range;

use similar::{Algorithm, DiffTag};

/// Above this many tokens (both sides together) in the untrimmed middle, the middle is
/// treated as one changed passage instead of being diffed.
pub const MAX_DIFF_TOKENS: usize = 10_000;

/// A passage both sides changed differently. Both versions are in the merged text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The server's (current) version of the passage.
    pub kept: String,
    /// The incoming edit's version of the passage.
    pub incoming: String,
}

/// The result of a three-way merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMerge {
    /// The merged text.
    pub text: String,
    /// Passages changed differently on both sides, in text order.
    pub overlaps: Vec<Overlap>,
}

/// One changed passage: `base[b]` became `other[x]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hunk {
    b: Range<usize>,
    x: Range<usize>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whether byte offset `i` of `s` is a char boundary and not inside a word.
fn is_token_boundary(s: &str, i: usize) -> bool {
    if i == 0 || i >= s.len() {
        return i <= s.len();
    }
    if !s.is_char_boundary(i) {
        return false;
    }
    let before = s[..i].chars().next_back();
    let after = s[i..].chars().next();
    !matches!((before, after), (Some(a), Some(b)) if is_word_char(a) && is_word_char(b))
}

/// Byte offsets of token starts in `s`, plus `s.len()` at the end.
fn token_starts(s: &str) -> Vec<usize> {
    let mut starts = Vec::with_capacity(s.len() / 3 + 2);
    let mut prev_word = false;
    for (i, c) in s.char_indices() {
        let word = is_word_char(c);
        if !(word && prev_word) {
            starts.push(i);
        }
        prev_word = word;
    }
    starts.push(s.len());
    starts
}

fn tokens<'a>(s: &'a str, starts: &[usize]) -> Vec<&'a str> {
    starts.windows(2).filter_map(|w| s.get(w[0]..w[1])).collect()
}

/// The changed passages from `base` to `other`, in base order, separated by unchanged text.
fn diff_hunks(base: &str, other: &str) -> Vec<Hunk> {
    if base == other {
        return Vec::new();
    }
    let (b, o) = (base.as_bytes(), other.as_bytes());
    let mut prefix = b.iter().zip(o).take_while(|(x, y)| x == y).count();
    while prefix > 0 && !(is_token_boundary(base, prefix) && is_token_boundary(other, prefix)) {
        prefix -= 1;
    }
    let max_suffix = b.len().min(o.len()) - prefix;
    let mut suffix = b
        .iter()
        .rev()
        .zip(o.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    while suffix > 0
        && !(is_token_boundary(base, b.len() - suffix) && is_token_boundary(other, o.len() - suffix))
    {
        suffix -= 1;
    }
    let b_mid = prefix..b.len() - suffix;
    let o_mid = prefix..o.len() - suffix;
    let whole = Hunk {
        b: b_mid.clone(),
        x: o_mid.clone(),
    };
    let (Some(b_text), Some(o_text)) = (base.get(b_mid.clone()), other.get(o_mid.clone())) else {
        return vec![whole];
    };
    if b_text.is_empty() || o_text.is_empty() {
        return vec![whole];
    }
    let b_starts = token_starts(b_text);
    let o_starts = token_starts(o_text);
    if b_starts.len() + o_starts.len() > MAX_DIFF_TOKENS {
        return vec![whole];
    }
    let b_tokens = tokens(b_text, &b_starts);
    let o_tokens = tokens(o_text, &o_starts);
    let ops = similar::capture_diff_slices(Algorithm::Myers, &b_tokens, &o_tokens);

    let mut hunks: Vec<Hunk> = Vec::new();
    let mut open: Option<(Range<usize>, Range<usize>)> = None;
    for op in ops {
        let (tag, old, new) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            if let Some((bt, ot)) = open.take() {
                hunks.push(Hunk {
                    b: prefix + b_starts[bt.start]..prefix + b_starts[bt.end],
                    x: prefix + o_starts[ot.start]..prefix + o_starts[ot.end],
                });
            }
            continue;
        }
        open = Some(match open {
            None => (old, new),
            Some((bt, ot)) => (bt.start..old.end, ot.start..new.end),
        });
    }
    if let Some((bt, ot)) = open {
        hunks.push(Hunk {
            b: prefix + b_starts[bt.start]..prefix + b_starts[bt.end],
            x: prefix + o_starts[ot.start]..prefix + o_starts[ot.end],
        });
    }
    hunks
}

/// Whether a hunk over base range `h` belongs to the cluster over base range `c`: the ranges
/// overlap, one is an insertion strictly inside the other, or both insert at the same point.
fn interacts(c: &Range<usize>, h: &Range<usize>) -> bool {
    (h.start < c.end && c.start < h.end) || (h.is_empty() && c.is_empty() && h.start == c.start)
}

/// Which list's hunk comes first in base order: earlier start, insertions before replaced
/// passages that start at the same point, current before incoming on a full tie.
fn current_first(c: &Hunk, v: &Hunk) -> bool {
    (c.b.start, !c.b.is_empty()) <= (v.b.start, !v.b.is_empty())
}

fn push_str_range(out: &mut String, s: &str, r: Range<usize>) {
    if let Some(part) = s.get(r) {
        out.push_str(part);
    }
}

/// Merges the edit `base → incoming` into `current`. See the module docs for the rule.
///
/// Guarantees: every token the edit inserted appears in the result, in the edit's order;
/// everything in `current` appears in the result except passages the edit deleted where
/// `current` still equalled `base`.
pub fn merge3(current: &str, base: &str, incoming: &str) -> TextMerge {
    if incoming == base || incoming == current {
        return TextMerge {
            text: current.to_owned(),
            overlaps: Vec::new(),
        };
    }
    if current == base {
        return TextMerge {
            text: incoming.to_owned(),
            overlaps: Vec::new(),
        };
    }
    let hc = diff_hunks(base, current);
    let hv = diff_hunks(base, incoming);
    let mut out = String::with_capacity(current.len() + incoming.len().saturating_sub(base.len()));
    let mut overlaps = Vec::new();
    let (mut i, mut j) = (0, 0);
    // Base offset up to which the output is written, and how far current / incoming offsets
    // are shifted from base offsets in the unchanged text there.
    let mut pos = 0usize;
    let (mut dc, mut dv) = (0isize, 0isize);
    let shift = |o: usize, d: isize| o.saturating_add_signed(d);

    while i < hc.len() || j < hv.len() {
        let take_current = match (hc.get(i), hv.get(j)) {
            (Some(c), Some(v)) => current_first(c, v),
            (Some(_), None) => true,
            _ => false,
        };
        let first = if take_current { &hc[i] } else { &hv[j] };
        let mut region = first.b.clone();
        let (ci0, vj0) = (i, j);
        if take_current {
            i += 1;
        } else {
            j += 1;
        }
        loop {
            if let Some(c) = hc.get(i).filter(|c| interacts(&region, &c.b)) {
                region = region.start.min(c.b.start)..region.end.max(c.b.end);
                i += 1;
            } else if let Some(v) = hv.get(j).filter(|v| interacts(&region, &v.b)) {
                region = region.start.min(v.b.start)..region.end.max(v.b.end);
                j += 1;
            } else {
                break;
            }
        }
        push_str_range(&mut out, base, pos..region.start);
        let c_start = shift(region.start, dc);
        let v_start = shift(region.start, dv);
        for h in &hc[ci0..i] {
            dc += h.x.len() as isize - h.b.len() as isize;
        }
        for h in &hv[vj0..j] {
            dv += h.x.len() as isize - h.b.len() as isize;
        }
        let c_part = current.get(c_start..shift(region.end, dc)).unwrap_or("");
        let v_part = incoming.get(v_start..shift(region.end, dv)).unwrap_or("");
        let both = i > ci0 && j > vj0;
        if !both || c_part == v_part {
            out.push_str(if j > vj0 { v_part } else { c_part });
        } else {
            out.push_str(c_part);
            let glue = matches!(
                (c_part.chars().next_back(), v_part.chars().next()),
                (Some(a), Some(b)) if is_word_char(a) && is_word_char(b)
            );
            if glue {
                out.push(' ');
            }
            out.push_str(v_part);
            overlaps.push(Overlap {
                kept: c_part.to_owned(),
                incoming: v_part.to_owned(),
            });
        }
        pos = region.end;
    }
    push_str_range(&mut out, base, pos..base.len());
    TextMerge { text: out, overlaps }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(c: &str, b: &str, v: &str) -> String {
        merge3(c, b, v).text
    }

    #[test]
    fn one_sided_edits_take_that_side() {
        assert_eq!(merged("abc", "abc", "abd"), "abd");
        assert_eq!(merged("abd", "abc", "abc"), "abd");
        assert_eq!(merged("same", "old", "same"), "same");
    }

    #[test]
    fn edits_of_different_words_both_survive() {
        let base = "Met Lise at the apero in Montreal, works on maps.";
        let current = "Met Lise Cardinal at the apero in Montreal, works on maps.";
        let incoming = "Met Lise at the apero in Montreal, works on open maps.";
        let m = merge3(current, base, incoming);
        assert_eq!(
            m.text,
            "Met Lise Cardinal at the apero in Montreal, works on open maps."
        );
        assert!(m.overlaps.is_empty());
    }

    #[test]
    fn same_edit_on_both_sides_is_taken_once() {
        let m = merge3("a big cat", "a cat", "a big cat");
        assert_eq!(m.text, "a big cat");
        let m = merge3("x a big cat y", "x a cat", "x a big cat");
        assert_eq!(m.text, "x a big cat y");
        assert!(m.overlaps.is_empty());
    }

    #[test]
    fn overlapping_edits_keep_both_versions_and_report() {
        let m = merge3("the red car", "the car", "the blue car");
        assert_eq!(m.text, "the red blue car");
        assert_eq!(
            m.overlaps,
            vec![Overlap {
                kept: "red ".into(),
                incoming: "blue ".into()
            }]
        );
        let m = merge3("call Nicolas", "call Nico", "call Nicole");
        assert_eq!(m.text, "call Nicolas Nicole");
        assert_eq!(m.overlaps.len(), 1);
    }

    #[test]
    fn deletion_concurrent_with_edit_inside_keeps_the_edit() {
        let base = "one two three four";
        let current = "one two 2 three four";
        let incoming = "one four";
        let m = merge3(current, base, incoming);
        assert!(m.text.contains("two 2 three"), "{}", m.text);
        assert_eq!(m.overlaps.len(), 1);
    }

    #[test]
    fn deletion_elsewhere_applies() {
        let m = merge3("one two three four five", "one two three four", "two three four");
        assert_eq!(m.text, "two three four five");
    }

    #[test]
    fn insertions_at_same_point_keep_both_current_first() {
        // Word-level: "x" became "xA" on one side and "xB" on the other.
        let m = merge3("xA", "x", "xB");
        assert_eq!(m.text, "xA xB");
        let m = merge3("x A", "x", "x B");
        assert_eq!(m.text, "x A B");
    }

    #[test]
    fn multibyte_text_is_handled_on_char_boundaries() {
        let base = "Réseautage à l'apéro, café.";
        let current = "Réseautage à l'apéro du jeudi, café.";
        let incoming = "Réseautage à l'apéro, café crème.";
        assert_eq!(
            merged(current, base, incoming),
            "Réseautage à l'apéro du jeudi, café crème."
        );
        // Common prefix ending inside a multi-byte character.
        assert_eq!(merged("é", "", "è"), "é è");
        assert_eq!(merged("aé", "a", "aè"), "aé aè");
        assert_eq!(merged("a,é", "a,", "a,è"), "a,é è");
    }

    #[test]
    fn empty_current_keeps_incoming_edit() {
        // The edit that created the base has not arrived yet.
        let m = merge3("", "abc", "abXc");
        assert!(m.text.contains("abXc"));
    }

    #[test]
    fn hunks_cover_word_edits() {
        let h = diff_hunks("the cat sat", "the dog sat");
        assert_eq!(h, vec![Hunk { b: 4..7, x: 4..7 }]);
        assert!(diff_hunks("same", "same").is_empty());
    }
}

//! Free-text classification of residents' reports (自动分类): which minor category a report in
//! Chinese belongs to, with a confidence, so that confident ones are dispatched at once and the
//! rest reach a dispatcher with the top suggestions.
//!
//! The model is multinomial naive Bayes over jieba-rs word tokens plus character bigrams (which
//! catch words the dictionary splits oddly), trained on `data/corpus.tsv` — a labelled corpus
//! shipped in the repository with its provenance in its header. Training takes milliseconds, so
//! the model is trained when first needed rather than stored.
//!
//! Architecture invariant: no I/O. The corpus text is passed in (or compiled in).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use jieba_rs::Jieba;

/// The shipped corpus.
pub const DEFAULT_CORPUS: &str = include_str!("../data/corpus.tsv");

/// Additive smoothing for unseen tokens.
const ALPHA: f64 = 0.5;

/// Why a corpus could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corpus line {line}: {message}")]
pub struct CorpusError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One labelled example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Category code.
    pub category: String,
    /// The report's text.
    pub text: String,
}

/// Reads `category<TAB>text` lines after the header; `#` lines are comments.
pub fn parse_corpus(text: &str) -> Result<Vec<Example>, CorpusError> {
    let mut out = Vec::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header {
            header = true;
            if line.trim() != "category\ttext" {
                return Err(CorpusError {
                    line: i + 1,
                    message: "the header must be `category<TAB>text`".into(),
                });
            }
            continue;
        }
        let Some((category, text)) = line.split_once('\t') else {
            return Err(CorpusError {
                line: i + 1,
                message: "expected `category<TAB>text`".into(),
            });
        };
        if category.trim().is_empty() || text.trim().is_empty() {
            return Err(CorpusError {
                line: i + 1,
                message: "empty category or text".into(),
            });
        }
        out.push(Example {
            category: category.trim().to_owned(),
            text: text.trim().to_owned(),
        });
    }
    if out.is_empty() {
        return Err(CorpusError {
            line: 0,
            message: "no examples".into(),
        });
    }
    Ok(out)
}

/// The segmenter, loaded once per process (its dictionary takes a moment to unpack).
fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// The features of a text: jieba words (without punctuation and spaces) and character bigrams.
pub fn features(text: &str) -> Vec<String> {
    let mut out: Vec<String> = jieba()
        .cut(text, true)
        .into_iter()
        .filter(|t| t.word.chars().any(|c| c.is_alphanumeric()))
        .map(|t| format!("w:{}", t.word))
        .collect();
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    out.extend(chars.windows(2).map(|p| format!("b:{}{}", p[0], p[1])));
    out
}

/// A trained multinomial naive Bayes model.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// Category codes, sorted.
    classes: Vec<String>,
    /// log P(class).
    log_prior: Vec<f64>,
    /// Feature → per-class counts.
    counts: HashMap<String, Vec<f64>>,
    /// Per-class total feature count.
    totals: Vec<f64>,
    /// Distinct features seen.
    vocabulary: f64,
}

/// A suggestion: a category and how sure the model is.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Category code.
    pub category: String,
    /// Posterior probability, 0–1.
    pub confidence: f64,
}

impl Classifier {
    /// Trains on examples.
    pub fn train(examples: &[Example]) -> Classifier {
        let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
        for e in examples {
            *per_class.entry(e.category.as_str()).or_default() += 1;
        }
        let classes: Vec<String> = per_class.keys().map(|c| (*c).to_owned()).collect();
        let index: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let n = examples.len() as f64;
        let log_prior = classes
            .iter()
            .map(|c| (per_class[c.as_str()] as f64 / n).ln())
            .collect();
        let mut counts: HashMap<String, Vec<f64>> = HashMap::new();
        let mut totals = vec![0.0; classes.len()];
        for e in examples {
            let k = index[e.category.as_str()];
            for f in features(&e.text) {
                counts.entry(f).or_insert_with(|| vec![0.0; classes.len()])[k] += 1.0;
                totals[k] += 1.0;
            }
        }
        let vocabulary = counts.len() as f64;
        Classifier {
            classes,
            log_prior,
            counts,
            totals,
            vocabulary,
        }
    }

    /// The categories the model knows.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Every category with its posterior probability, most likely first.
    pub fn classify(&self, text: &str) -> Vec<Suggestion> {
        let mut scores = self.log_prior.clone();
        for f in features(text) {
            // Features never seen in training say nothing about any class.
            let Some(c) = self.counts.get(&f) else {
                continue;
            };
            for (k, score) in scores.iter_mut().enumerate() {
                *score += ((c[k] + ALPHA) / (self.totals[k] + ALPHA * self.vocabulary)).ln();
            }
        }
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut out: Vec<Suggestion> = self
            .classes
            .iter()
            .zip(exp)
            .map(|(c, e)| Suggestion {
                category: c.clone(),
                confidence: e / sum,
            })
            .collect();
        out.sort_by(|a, b| {
            b.confidence
                .partial_cmp(&a.confidence)
                .expect("finite")
                .then(a.category.cmp(&b.category))
        });
        out
    }
}

/// The model trained on the shipped corpus, once per process.
pub fn default_classifier() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        Classifier::train(&parse_corpus(DEFAULT_CORPUS).expect("the shipped corpus is valid"))
    })
}

/// Accuracy on a held-out split: every `k`-th example of each category is held out, the rest
/// train the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Examples used for training.
    pub trained: usize,
    /// Examples held out.
    pub held_out: usize,
    /// Share of held-out examples whose top suggestion is right.
    pub top1: f64,
    /// Share whose right category is among the top three.
    pub top3: f64,
}

/// Evaluates on a deterministic split (every `k`-th example per category held out).
pub fn evaluate(examples: &[Example], k: usize) -> Evaluation {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for e in examples {
        let n = seen.entry(e.category.as_str()).or_default();
        *n += 1;
        if (*n).is_multiple_of(k) {
            test.push(e.clone())
        } else {
            train.push(e.clone())
        }
    }
    let model = Classifier::train(&train);
    let (mut top1, mut top3) = (0, 0);
    for e in &test {
        let s = model.classify(&e.text);
        top1 += usize::from(s[0].category == e.category);
        top3 += usize::from(s.iter().take(3).any(|x| x.category == e.category));
    }
    let n = test.len().max(1) as f64;
    Evaluation {
        trained: train.len(),
        held_out: test.len(),
        top1: top1 as f64 / n,
        top3: top3 as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_toy_corpus() {
        let corpus = "# toy\ncategory\ttext\nE0404\t下水道堵了污水外溢\nE0404\t小区下水道堵塞\nC0102\t路灯不亮了\nC0102\t晚上路灯坏了一片漆黑\n";
        let examples = parse_corpus(corpus).unwrap();
        let model = Classifier::train(&examples);
        assert_eq!(model.classes(), ["C0102", "E0404"]);
        let s = model.classify("门口下水道堵住了");
        assert_eq!(s[0].category, "E0404");
        assert!(
            s[0].confidence > 0.5
                && (s.iter().map(|x| x.confidence).sum::<f64>() - 1.0).abs() < 1e-9
        );
        assert_eq!(model.classify("路灯坏了")[0].category, "C0102");
    }

    #[test]
    fn bad_corpora_name_their_line() {
        assert_eq!(parse_corpus("text\tcategory\n").unwrap_err().line, 1);
        assert_eq!(
            parse_corpus("category\ttext\nE0404 no tab\n")
                .unwrap_err()
                .line,
            2
        );
        assert!(parse_corpus("# only comments\n").is_err());
    }

    #[test]
    fn the_shipped_corpus_trains_a_useful_model() {
        let examples = parse_corpus(DEFAULT_CORPUS).unwrap();
        let eval = evaluate(&examples, 5);
        // The figures are reported in BENCHMARKS.md; this guards against a broken pipeline, not
        // a particular score.
        assert!(eval.held_out >= 100, "{eval:?}");
        assert!(eval.top3 > 0.6, "{eval:?}");
        let s = default_classifier().classify("我们楼下的下水道又堵了，污水都冒出来了，味道很大");
        assert_eq!(s[0].category, "E0404", "{:?}", &s[..3]);
    }
}

//! No credential leaves for an AI provider: every text of a question's material (the question
//! and the context sent with it, the workflow context, the snippets) has each credential the
//! secret detector finds replaced by `[REDACTED:<kind>]` before any prompt is built from it.

use prometheus::IntCounterVec;
use serde_json::Value;

use super::gather::Gathered;
use super::prompt::truncate_chars;
use crate::secrets;
use pieces_model::{Question, Snippet};

/// A snippet's code is cut to this many characters before it is redacted: far more than any
/// prompt sends of it (`prompt`'s bounds), so a credential that straddles the prompt's own cut
/// is still whole here, and found (a 4096-bit RSA key block is about 3,300 characters).
const CODE_REDACTED_CHARS: usize = 16_000;

/// The question and its material as they may be sent, each credential in them replaced in
/// place (no copy of a snippet's code is made); `redactions` counts each replaced by kind.
pub fn redacted(
    mut question: Question,
    mut gathered: Gathered,
    redactions: &IntCounterVec,
) -> (Question, Gathered) {
    let mut count = |kinds: Vec<String>| {
        for kind in kinds {
            redactions.with_label_values(&[&kind]).inc();
        }
    };
    redact_text(&mut question.query, &mut count);
    for value in question.context.values_mut() {
        redact_value(value, &mut count);
    }
    if let Some(workflow) = &mut gathered.workflow {
        redact_value(workflow, &mut count);
    }
    for snippet in &mut gathered.snippets {
        redact_snippet(snippet, &mut count);
    }
    (question, gathered)
}

fn redact_snippet(snippet: &mut Snippet, count: &mut impl FnMut(Vec<String>)) {
    redact_text(&mut snippet.title, count);
    if let Some(description) = &mut snippet.description {
        redact_text(description, count);
    }
    for tag in &mut snippet.tags {
        redact_text(tag, count);
    }
    for value in snippet.metadata.values_mut() {
        redact_value(value, count);
    }
    for file in &mut snippet.files {
        redact_text(&mut file.name, count);
        truncate_chars(&mut file.code, CODE_REDACTED_CHARS);
        redact_text(&mut file.code, count);
    }
    // `code` is the first file's, when there are files: redacted once, counted once.
    match snippet.files.first() {
        Some(first) => snippet.code.clone_from(&first.code),
        None => {
            truncate_chars(&mut snippet.code, CODE_REDACTED_CHARS);
            redact_text(&mut snippet.code, count);
        }
    }
}

/// Every string in `value`, however deep (keys are names, not values, and stay).
fn redact_value(value: &mut Value, count: &mut impl FnMut(Vec<String>)) {
    match value {
        Value::String(text) => redact_text(text, count),
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, count)),
        Value::Object(fields) => fields.values_mut().for_each(|v| redact_value(v, count)),
        _ => {}
    }
}

fn redact_text(text: &mut String, count: &mut impl FnMut(Vec<String>)) {
    let (redacted, kinds) = secrets::redact(text);
    if kinds.is_empty() {
        return;
    }
    *text = redacted.into_owned();
    count(kinds);
}

#[cfg(test)]
mod tests {
    use super::*;
    use pieces_model::{now, SnippetFile};
    use prometheus::Opts;
    use serde_json::json;

    fn key() -> String {
        // A made-up key of the documented shape, assembled so this file holds none.
        format!("AKIA{}", "Q3ZT7LMN4PRS2VWX")
    }

    #[test]
    fn every_text_of_the_material_is_redacted_and_counted() {
        let key = key();
        let snippet = Snippet {
            version: 1,
            id: "01a252ca-ca49-751a-bcd1-f7dc3f6e4277".into(),
            workspace: "personal".into(),
            title: format!("deploy with {key}"),
            code: format!("aws_key = \"{key}\""),
            language: "python".into(),
            tags: vec![],
            metadata: serde_json::from_value(json!({"note": {"deep": [key.clone()]}})).unwrap(),
            description: Some(format!("uses {key}")),
            created_at: now(),
            updated_at: now(),
            files: vec![
                SnippetFile {
                    name: "a.py".into(),
                    language: "python".into(),
                    code: format!("aws_key = \"{key}\""),
                },
                SnippetFile {
                    name: "b.env".into(),
                    language: "shell".into(),
                    code: format!("KEY={key}"),
                },
            ],
        };
        let question = Question {
            query: format!("why is {key} refused?"),
            context: serde_json::from_value(json!({"env": format!("AWS={key}")})).unwrap(),
            model: None,
            max_tokens: 10,
            workspaces: None,
        };
        let gathered = Gathered {
            workflow: Some(json!({"open": [{"file": "x.py", "text": format!("k='{key}'")}]})),
            snippets: vec![snippet],
        };
        let counter =
            IntCounterVec::new(Opts::new("redactions", "test"), &["kind"]).expect("counter");
        let (question, gathered) = redacted(question, gathered, &counter);
        let sent = format!(
            "{} {} {} {}",
            serde_json::to_string(&question.context).unwrap(),
            question.query,
            gathered.workflow.as_ref().unwrap(),
            serde_json::to_string(&gathered.snippets).unwrap()
        );
        assert!(!sent.contains(&key), "{sent}");
        assert_eq!(
            sent.matches("[REDACTED:aws-access-token]").count(),
            9,
            "{sent}"
        );
        // `code` is the first file's: one key, counted once, shown in both.
        assert_eq!(counter.with_label_values(&["aws-access-token"]).get(), 8);
        assert_eq!(
            gathered.snippets[0].id,
            "01a252ca-ca49-751a-bcd1-f7dc3f6e4277"
        );
    }

    #[test]
    fn a_key_across_the_prompts_own_cut_leaves_no_part_of_itself() {
        let key = key();
        let cut_at = super::super::prompt::bounds::SNIPPET_CODE_CHARS;
        // The key starts six characters before the prompt's cut of the code.
        let code = format!("{}\nk=\"{key}\"\nmore", "x".repeat(cut_at - 10));
        let snippet: Snippet = serde_json::from_value(json!({
            "version": 1, "id": "i", "workspace": "personal", "title": "t", "code": code,
            "language": "text", "tags": [], "metadata": {}, "description": null,
            "created_at": now(), "updated_at": now(),
        }))
        .expect("snippet");
        let question = Question {
            query: "q".into(),
            context: Default::default(),
            model: None,
            max_tokens: 10,
            workspaces: None,
        };
        let gathered = Gathered {
            workflow: None,
            snippets: vec![snippet],
        };
        let counter =
            IntCounterVec::new(Opts::new("redactions", "test"), &["kind"]).expect("counter");
        let (question, gathered) = redacted(question, gathered, &counter);
        let (request, _) = super::super::prompt::chat_request(&question, &gathered);
        let system = &request.messages[0].content;
        assert!(system.contains(&"x".repeat(cut_at - 10)), "{system}");
        assert!(!system.contains(&key[..6]), "a prefix of the key was sent");
    }
}

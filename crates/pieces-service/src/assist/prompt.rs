//! A question in each provider's terms: the platform's `/chat` body, exactly as before, and
//! a bounded Chat Completions conversation for OpenAI-compatible providers.

use chrono::Utc;
use serde_json::{json, Value};

use super::gather::Gathered;
use pieces_model::{Question, Snippet, DEFAULT_MODEL};
use pieces_upstream::ai::{ChatMessage, ChatRequest};

/// Code beyond this many characters is cut from snippets sent to the cognitive service.
const CODE_EXCERPT_CHARS: usize = 8_000;

/// Bounds of the system message an OpenAI-compatible provider gets (README, "AI providers"):
/// local models have small context windows, and every character costs time to first byte.
pub mod bounds {
    /// A snippet's code is cut after this many characters.
    pub const SNIPPET_CODE_CHARS: usize = 2_000;
    /// A snippet's description is cut after this many characters.
    pub const SNIPPET_DESCRIPTION_CHARS: usize = 500;
    /// The workflow context and the request's context, each as JSON, are cut after this many.
    pub const CONTEXT_CHARS: usize = 4_000;
    /// The whole system message: snippets that would take it past this are left out.
    pub const SYSTEM_MESSAGE_CHARS: usize = 16_000;
}

const INSTRUCTIONS: &str = "You are a coding assistant inside a developer's snippet manager. \
Answer the developer's question concisely and correctly. The developer's current workflow \
context and snippets from their collection follow; use them where they help, and name the \
snippets you draw on by title.";

/// `POST /chat`'s body: `{query, context: {workflow, recent_snippets, timestamp, ...request
/// context}, model, max_tokens, service}`.
pub fn cognitive_body(question: &Question, gathered: &Gathered) -> Value {
    let snippets = gathered.snippets.iter().map(excerpt).collect();
    let mut context = serde_json::Map::new();
    context.insert(
        "workflow".into(),
        gathered.workflow.clone().unwrap_or(Value::Null),
    );
    context.insert("recent_snippets".into(), Value::Array(snippets));
    context.insert("timestamp".into(), json!(Utc::now()));
    context.extend(question.context.clone());
    json!({
        "query": question.query,
        "context": context,
        "model": question.model.as_deref().unwrap_or(DEFAULT_MODEL),
        "max_tokens": question.max_tokens,
        "service": "pieces_integration",
    })
}

fn excerpt(snippet: &Snippet) -> Value {
    let mut snippet = snippet.clone();
    let codes =
        std::iter::once(&mut snippet.code).chain(snippet.files.iter_mut().map(|f| &mut f.code));
    for code in codes {
        truncate_chars(code, CODE_EXCERPT_CHARS);
    }
    serde_json::to_value(snippet).unwrap_or(Value::Null)
}

/// The conversation for an OpenAI-compatible provider, and the snippets it holds as the
/// answer's references (`{id, title}`).
pub fn chat_request(question: &Question, gathered: &Gathered) -> (ChatRequest, Vec<Value>) {
    use bounds::*;
    let mut system = String::from(INSTRUCTIONS);
    if let Some(workflow) = &gathered.workflow {
        system.push_str("\n\nCurrent workflow context (JSON):\n");
        system.push_str(cut(&workflow.to_string(), CONTEXT_CHARS));
    }
    if !question.context.is_empty() {
        system.push_str("\n\nContext sent with the question (JSON):\n");
        let context = Value::Object(question.context.clone()).to_string();
        system.push_str(cut(&context, CONTEXT_CHARS));
    }
    let mut references = Vec::new();
    let mut used = system.chars().count();
    let heading = "\n\nSnippets from the developer's collection, most relevant first:";
    for snippet in &gathered.snippets {
        let block = snippet_block(snippet);
        let size = block.chars().count()
            + if references.is_empty() {
                heading.len()
            } else {
                0
            };
        if used + size > SYSTEM_MESSAGE_CHARS {
            continue;
        }
        if references.is_empty() {
            system.push_str(heading);
        }
        system.push_str(&block);
        used += size;
        references.push(json!({"id": snippet.id, "title": snippet.title}));
    }
    let request = ChatRequest {
        model: question.model.clone(),
        messages: vec![
            ChatMessage {
                role: "system",
                content: system,
            },
            ChatMessage {
                role: "user",
                content: question.query.clone(),
            },
        ],
        max_tokens: question.max_tokens,
    };
    (request, references)
}

fn snippet_block(snippet: &Snippet) -> String {
    use bounds::*;
    let mut block = format!("\n\n### {} ({})", snippet.title, snippet.language);
    if !snippet.tags.is_empty() {
        block.push_str(&format!(" tags: {}", snippet.tags.join(", ")));
    }
    if let Some(description) = snippet.description.as_deref().filter(|d| !d.is_empty()) {
        block.push('\n');
        block.push_str(cut(description, SNIPPET_DESCRIPTION_CHARS));
    }
    // The files share the one snippet's budget, in order.
    let mut left = SNIPPET_CODE_CHARS;
    for file in snippet.file_views() {
        if left == 0 {
            block.push_str(&format!("\n({} cut)", file.name));
            continue;
        }
        left -= code_block(&mut block, file.name, file.language, file.code, left);
    }
    block
}

/// Appends `code` (at most `max` characters of it) fenced, under its file's name if it has
/// one; answers how many characters it took.
fn code_block(block: &mut String, name: &str, language: &str, code: &str, max: usize) -> usize {
    let shown = cut(code, max);
    if !name.is_empty() {
        block.push_str(&format!("\n{name}:"));
    }
    block.push_str(&format!("\n```{language}\n{shown}\n```"));
    if shown.len() < code.len() {
        block.push_str("\n(code cut)");
    }
    shown.chars().count()
}

/// Cuts `text` after its first `max` characters.
pub(super) fn truncate_chars(text: &mut String, max: usize) {
    text.truncate(cut(text, max).len());
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pieces_model::now;

    fn snippet(n: usize, code_chars: usize) -> Snippet {
        Snippet {
            version: 1,
            id: format!("id-{n}"),
            workspace: "personal".to_owned(),
            title: format!("snippet {n}"),
            code: "é".repeat(code_chars),
            language: "rust".into(),
            tags: vec!["t".into()],
            metadata: Default::default(),
            description: Some("d".repeat(2_000)),
            created_at: now(),
            updated_at: now(),
            files: Vec::new(),
        }
    }

    fn question() -> Question {
        Question {
            query: "how?".into(),
            context: Default::default(),
            model: None,
            max_tokens: 10,
            workspaces: None,
        }
    }

    #[test]
    fn the_system_message_stays_within_its_bounds_and_names_only_the_snippets_it_holds() {
        let gathered = Gathered {
            workflow: Some(json!({"notes": "w".repeat(50_000)})),
            snippets: (0..5).map(|n| snippet(n, 10_000)).collect(),
        };
        let (request, references) = chat_request(&question(), &gathered);
        let system = &request.messages[0].content;
        assert!(system.chars().count() <= bounds::SYSTEM_MESSAGE_CHARS);
        assert!(!system.contains(&"w".repeat(bounds::CONTEXT_CHARS)));
        assert!(!system.contains(&"é".repeat(bounds::SNIPPET_CODE_CHARS + 1)));
        assert!(
            !references.is_empty() && references.len() < 5,
            "{references:?}"
        );
        for reference in &references {
            let title = reference["title"].as_str().expect("title");
            assert!(system.contains(&format!("### {title} ")), "{title}");
        }
        assert!(
            !system.contains("### snippet 4 "),
            "a snippet left out is not referenced"
        );
        assert_eq!(request.messages[1].content, "how?");
        assert_eq!(request.model, None, "the provider's own model");
    }

    #[test]
    fn the_cognitive_service_gets_the_default_model_when_none_is_named() {
        let gathered = Gathered {
            workflow: None,
            snippets: vec![],
        };
        let body = cognitive_body(&question(), &gathered);
        assert_eq!(body["model"], "gpt-4");
        assert_eq!(body["context"]["workflow"], Value::Null);
    }
}

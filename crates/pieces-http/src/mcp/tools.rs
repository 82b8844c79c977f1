//! The MCP tools: each one's name, the scope it needs, and its input and output schemas,
//! taken from the published API description so they carry the same limits as REST.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};

use super::render::SEARCH_CODE_MAX_BYTES;
use pieces_model::bounds::OFFSET_MAX;
use pieces_model::related::RELATED_MAX;
use pieces_model::Scope;

/// Results of a search, at most.
pub const SEARCH_LIMIT_MAX: i64 = 50;
/// Results of a search when the caller names no limit.
pub const SEARCH_LIMIT_DEFAULT: i64 = 10;

/// A tool and the scope a caller needs to see and call it.
pub struct ToolSpec {
    pub tool: Tool,
    pub scope: Scope,
}

/// Every tool, built once from the API description `doc`.
pub fn catalogue(doc: &Value) -> Arc<Vec<ToolSpec>> {
    let schema = |name: &str| component(doc, name);
    let snippet = schema("Snippet");
    let id = json!({"type": "string", "format": "uuid", "description": "The snippet's id"});
    let by_id = object(json!({"id": id}), &["id"]);
    let expected_version = json!({"type": "integer", "minimum": 1,
        "description": "Change it only if it is still at this version (the `version` you read); \
            otherwise nothing changes and the error carries it as it is now"});
    let mut patch = schema("SnippetPatch");
    patch["properties"]["id"] = id.clone();
    patch["properties"]["expected_version"] = expected_version.clone();
    patch["required"] = json!(["id"]);
    let deletion = object(
        json!({"id": id, "expected_version": expected_version}),
        &["id"],
    );
    let workspace = json!({"type": "string", "maxLength": 64,
        "description": "Where to look: `personal` (the default), a team workspace's id \
            (list_workspaces names them), or `all` for every workspace the user can read"});
    let search_input = object(
        json!({
            "query": {"type": "string", "maxLength": 500, "pattern": "^[^\\u0000]*$",
                "description": "What to look for, in words or as a question"},
            "mode": {"type": "string", "enum": ["text", "semantic", "hybrid"],
                "description": "text: every word must match; semantic: nearest in meaning; \
                    hybrid: both fused (the default when the server has an embedding provider)"},
            "language": {"type": "string", "description": "Only this language"},
            "tag": {"type": "string", "description": "Only snippets with this tag"},
            "limit": {"type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT_MAX,
                "default": SEARCH_LIMIT_DEFAULT},
            "offset": {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0},
            "workspace": workspace.clone(),
        }),
        &[],
    );
    let found = json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "language": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
            "description": {"type": ["string", "null"]},
            "code": {"type": "string", "description": format!(
                "The code, cut after {SEARCH_CODE_MAX_BYTES} bytes (then `code_truncated` is \
                 true; get_snippet returns all of it)")},
            "code_truncated": {"type": "boolean"},
            "workspace": {"type": "string", "description": "`personal` or the team workspace's id"},
            "code_bytes": {"type": "integer", "description": "The whole code's size in bytes"},
            "files": {"type": "array", "description": "A snippet of several files: each one's \
                name, language and size (`code` is the first file's; get_snippet returns all)",
                "items": {"type": "object", "properties": {"name": {"type": "string"},
                    "language": {"type": "string"}, "code_bytes": {"type": "integer"}}}},
        },
    });
    let search_output = object(
        json!({"snippets": {"type": "array", "items": found}, "total": {"type": "integer"},
            "mode": {"type": "string"}}),
        &["snippets", "total"],
    );
    let related_input = object(
        json!({"id": id, "limit": {"type": "integer", "minimum": 1, "maximum": RELATED_MAX,
            "default": 5}}),
        &["id"],
    );
    let saved = object(
        json!({"snippet_id": {"type": "string"}, "snippet": snippet}),
        &["snippet_id", "snippet"],
    );
    let deleted = object(json!({"deleted": {"type": "string"}}), &["deleted"]);
    let version = json!({"type": "integer", "minimum": 1,
        "description": "A version number, as get_snippet_history lists them"});
    let history_input = object(
        json!({"id": id, "version": version,
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
                "description": "Versions listed at most, newest first"}}),
        &["id"],
    );
    let history_output = object(
        json!({
            "versions": schema("VersionPage")["properties"]["versions"],
            "total": {"type": "integer"},
            "snippet": snippet,
            "diff_to_current": schema("VersionDiff"),
        }),
        &[],
    );
    let restore_input = object(
        json!({"id": id, "version": version, "expected_version": expected_version}),
        &["id", "version"],
    );
    let workspaces = object(
        json!({"workspaces": {"type": "array", "items": schema("Workspace")}}),
        &["workspaces"],
    );
    // A tool result is one message: the answer comes whole.
    let mut ask_input = schema("AssistRequest");
    if let Some(Value::Object(properties)) = ask_input.get_mut("properties") {
        properties.remove("stream");
    }
    let context = schema("WorkflowContext");
    let current = object(
        json!({"live": {"type": "boolean"}, "context": {"anyOf": [context, {"type": "null"}]}}),
        &["live"],
    );
    let read_only = ToolAnnotations::new().read_only(true).open_world(false);
    let writes = ToolAnnotations::new().read_only(false).open_world(false);
    let spec = |name: &'static str,
                description: &'static str,
                scope: Scope,
                input: Value,
                output: Value,
                annotations: ToolAnnotations| ToolSpec {
        tool: Tool::new(name, description, as_object(input))
            .with_raw_output_schema(as_object(output))
            .with_annotations(annotations),
        scope,
    };
    Arc::new(vec![
        spec(
            "search_snippets",
            "Search the user's saved code snippets by words or meaning, language or tag.",
            Scope::SnippetsRead,
            search_input,
            search_output,
            read_only.clone(),
        ),
        spec(
            "get_snippet",
            "Read one of the user's snippets by id, with its code.",
            Scope::SnippetsRead,
            by_id.clone(),
            snippet.clone(),
            read_only.clone(),
        ),
        spec(
            "related_snippets",
            "The user's snippets most related to one (same workspace): nearest in meaning, \
             and sharing its tags; without their code (get_snippet reads one).",
            Scope::SnippetsRead,
            related_input,
            schema("RelatedPage"),
            read_only.clone(),
        ),
        spec(
            "save_snippet",
            "Save a new code snippet for the user.",
            Scope::SnippetsWrite,
            schema("NewSnippet"),
            saved,
            writes.clone(),
        ),
        spec(
            "update_snippet",
            "Change fields of one of the user's snippets; only the fields given change.",
            Scope::SnippetsWrite,
            patch,
            snippet.clone(),
            writes.clone(),
        ),
        spec(
            "delete_snippet",
            "Delete one of the user's snippets: it goes to the trash, from which the user can \
             restore it with its history.",
            Scope::SnippetsWrite,
            deletion,
            deleted,
            writes.clone().destructive(true),
        ),
        spec(
            "get_snippet_history",
            "The versions of one of the user's snippets, newest first, with when, who and \
             which fields each changed; with `version`, that version whole and what changed \
             from it to the current one.",
            Scope::SnippetsRead,
            history_input,
            history_output,
            read_only.clone(),
        ),
        spec(
            "restore_snippet_version",
            "Make an earlier version's content the snippet's next version (undo): nothing is \
             lost, every version stays in its history.",
            Scope::SnippetsWrite,
            restore_input,
            snippet.clone(),
            writes.clone(),
        ),
        spec(
            "list_workspaces",
            "The workspaces the user can read (their personal one and their teams'), with \
             their role in each: pass an id as `workspace` to search or save there.",
            Scope::SnippetsRead,
            object(json!({}), &[]),
            workspaces,
            read_only.clone(),
        ),
        spec(
            "get_workflow_context",
            "What the user is working on now (their live workflow context), if any.",
            Scope::ContextRead,
            object(json!({}), &[]),
            current,
            read_only.clone(),
        ),
        spec(
            "set_workflow_context",
            "Set what the user is working on now; it stays live for an hour.",
            Scope::ContextWrite,
            schema("ContextInput"),
            schema("WorkflowContext"),
            writes,
        ),
        spec(
            "ask",
            "Ask a development question, answered by AI with the user's workflow context and \
             their most relevant snippets.",
            Scope::Ai,
            ask_input,
            schema("AssistAnswer"),
            read_only,
        ),
    ])
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn as_object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// A component schema of `doc` with every `$ref` in it replaced by what it names, since a
/// tool's schema stands alone.
fn component(doc: &Value, name: &str) -> Value {
    let mut schema = doc["components"]["schemas"][name].clone();
    inline_refs(doc, &mut schema, 0);
    schema
}

fn inline_refs(doc: &Value, value: &mut Value, depth: usize) {
    if depth > 8 {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                if let Some(name) = target.strip_prefix("#/components/schemas/") {
                    // A recursive schema cannot be inlined: its members are left open.
                    if name == "JsonWithoutNul" {
                        *value = json!({});
                        return;
                    }
                    *value = doc["components"]["schemas"][name].clone();
                    inline_refs(doc, value, depth + 1);
                    return;
                }
            }
            for inner in map.values_mut() {
                inline_refs(doc, inner, depth + 1);
            }
        }
        Value::Array(items) => {
            for inner in items {
                inline_refs(doc, inner, depth + 1);
            }
        }
        _ => {}
    }
}

//! The rules the core enforces, written into the published schemas, so a client (or a
//! generator of test data) knows exactly what is accepted. The numbers come from the same
//! `Limits` and bounds the core checks with.

use serde_json::{json, Map, Value};

use pieces_model::audit::{AuditAction, AUDIT_PAGE_MAX};
use pieces_model::bounds::{
    CONTEXT_TYPE_MAX_CHARS, DESCRIPTION_MAX_CHARS, MAX_TOKENS_LIMIT, MODEL_MAX_CHARS, OFFSET_MAX,
    PAGE_MAX, QUESTION_MAX_CHARS, SEARCH_MAX_CHARS, SESSION_ID_MAX_CHARS,
};
use pieces_model::files::{FILES_MAX, FILES_TOTAL_BYTES, FILE_NAME_MAX_CHARS};
use pieces_model::share::SHARE_MAX_HOURS;
use pieces_model::workspace::{WORKSPACE_DESCRIPTION_MAX_CHARS, WORKSPACE_NAME_MAX_CHARS};
use pieces_model::{
    Limits, Scope, CURSOR_MAX_BYTES, CURSOR_PATTERN, QUESTION_MAX_WORKSPACES, TOKEN_MAX_DAYS,
    TOKEN_MAX_WORKSPACES, TOKEN_NAME_MAX_CHARS, TOKEN_PAGE_MAX,
};

/// No NUL anywhere (PostgreSQL cannot store it), and at least one character that is not
/// Unicode white space (the characters `str::trim` removes).
const NOT_BLANK: &str = "^[^\\u0000]*[^\\u0000\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$";
/// No NUL anywhere.
const NO_NUL: &str = "^[^\\u0000]*$";

/// The fields a snippet patch may name.
const PATCH_FIELDS: [&str; 8] = [
    "title",
    "code",
    "language",
    "files",
    "tags",
    "metadata",
    "description",
    "workspace",
];

fn text(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": NOT_BLANK})
}

/// A JSON value with no NUL character in any string or key, at any depth (PostgreSQL's JSONB
/// cannot hold one, so neither store takes one): the schema of every free-form object's
/// members.
const JSON_WITHOUT_NUL: &str = "JsonWithoutNul";

fn json_without_nul() -> Value {
    let any = json!({"$ref": format!("#/components/schemas/{JSON_WITHOUT_NUL}")});
    json!({
        "description": "Any JSON value without a NUL character (\\u0000) in a string or key",
        "anyOf": [
            {"type": "string", "pattern": NO_NUL},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": any},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": any},
        ],
    })
}

/// Writes every rule into `doc`.
pub fn apply(doc: &mut Value, limits: &Limits) {
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.insert(JSON_WITHOUT_NUL.into(), json_without_nul());
    }
    // Metadata is kept as JSONB on PostgreSQL, which holds no NUL; a context is kept as text.
    let objects = |what: &str| {
        json!({"description": format!("{what}: a JSON object of at most {} bytes",
            limits.object_bytes)})
    };
    let objects_without_nul = |what: &str| {
        json!({
            "description": format!("{what}: a JSON object of at most {} bytes, without a NUL \
                character in any key or string", limits.object_bytes),
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": format!("#/components/schemas/{JSON_WITHOUT_NUL}")},
        })
    };
    let snippet_fields = [
        ("title", text(limits.title_chars)),
        (
            "code",
            json!({"minLength": 1, "maxLength": limits.code_bytes, "pattern": NO_NUL,
                "description": format!("1 to {} bytes of UTF-8", limits.code_bytes)}),
        ),
        ("language", text(limits.language_chars)),
        (
            "tags",
            json!({"maxItems": limits.tags, "items": text(limits.tag_chars)}),
        ),
        (
            "description",
            json!({"maxLength": DESCRIPTION_MAX_CHARS, "pattern": NO_NUL}),
        ),
        ("metadata", objects_without_nul("metadata")),
    ];
    for schema in ["NewSnippet", "SnippetPatch"] {
        for (field, rule) in &snippet_fields {
            merge_property(doc, schema, field, rule.clone());
        }
        merge_property(
            doc,
            schema,
            "files",
            json!({"type": "array", "minItems": 1, "maxItems": FILES_MAX,
                "description": format!("1 to {FILES_MAX} files, their code at most \
                    {FILES_TOTAL_BYTES} bytes in all; the first is also `code` and \
                    `language`. Sent instead of `code` and `language`.")}),
        );
    }
    for (field, rule) in [
        ("name", text(FILE_NAME_MAX_CHARS)),
        ("language", text(limits.language_chars)),
        ("code", snippet_fields[1].1.clone()),
    ] {
        merge_property(doc, "SnippetFile", field, rule);
    }
    // Absent, never null.
    for (field, kind) in [
        ("code", "string"),
        ("language", "string"),
        ("files", "array"),
    ] {
        merge_property(doc, "NewSnippet", field, json!({"type": kind}));
    }
    // A create sends `code` and `language`, or `files`; a patch never `files` with either.
    if let Some(new) = schema_mut(doc, "NewSnippet") {
        new.insert(
            "oneOf".into(),
            json!([
                {"required": ["code", "language"], "not": {"required": ["files"]}},
                {"required": ["files"],
                 "not": {"anyOf": [{"required": ["code"]}, {"required": ["language"]}]}},
            ]),
        );
    }
    if let Some(patch) = schema_mut(doc, "SnippetPatch") {
        patch.insert(
            "allOf".into(),
            json!([
                {"not": {"required": ["files", "code"]}},
                {"not": {"required": ["files", "language"]}},
            ]),
        );
    }
    // In a patch only `description` may be null (it clears the description), and the body
    // must name at least one field.
    for (field, kind) in [
        ("title", "string"),
        ("code", "string"),
        ("language", "string"),
        ("files", "array"),
        ("tags", "array"),
        ("metadata", "object"),
        ("workspace", "string"),
    ] {
        merge_property(doc, "SnippetPatch", field, json!({"type": kind}));
    }
    merge_property(doc, "SnippetPatch", "workspace", text(64));
    let any_field: Vec<Value> = PATCH_FIELDS
        .iter()
        .map(|f| json!({"required": [f]}))
        .collect();
    if let Some(patch) = schema_mut(doc, "SnippetPatch") {
        patch.insert("anyOf".into(), Value::Array(any_field));
    }
    merge_property(
        doc,
        "ContextInput",
        "session_id",
        text(SESSION_ID_MAX_CHARS),
    );
    merge_property(
        doc,
        "ContextInput",
        "context_type",
        text(CONTEXT_TYPE_MAX_CHARS),
    );
    merge_property(doc, "ContextInput", "context_data", objects("context_data"));
    merge_property(
        doc,
        "ContextInput",
        "timestamp",
        json!({"format": "date-time"}),
    );
    merge_property(doc, "AssistRequest", "query", text(QUESTION_MAX_CHARS));
    merge_property(doc, "AssistRequest", "model", text(MODEL_MAX_CHARS));
    merge_property(doc, "AssistRequest", "context", objects("context"));
    merge_property(
        doc,
        "AssistRequest",
        "max_tokens",
        json!({"minimum": 1, "maximum": MAX_TOKENS_LIMIT}),
    );
    let scope_names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    merge_property(doc, "NewToken", "name", text(TOKEN_NAME_MAX_CHARS));
    merge_property(
        doc,
        "NewToken",
        "scopes",
        json!({"minItems": 1, "items": {"enum": scope_names}}),
    );
    merge_property(
        doc,
        "NewToken",
        "expires_in_days",
        json!({"minimum": 1, "maximum": TOKEN_MAX_DAYS}),
    );
    merge_parameter(doc, "/api/v1/tokens/{id}", "id", json!({"format": "uuid"}));
    let tokens = "/api/v1/tokens";
    merge_parameter(
        doc,
        tokens,
        "limit",
        json!({"minimum": 1, "maximum": TOKEN_PAGE_MAX}),
    );
    merge_parameter(
        doc,
        tokens,
        "offset",
        json!({"minimum": 0, "maximum": OFFSET_MAX}),
    );
    let listing = "/api/v1/snippets";
    merge_parameter(
        doc,
        listing,
        "limit",
        json!({"minimum": 1, "maximum": PAGE_MAX}),
    );
    merge_parameter(
        doc,
        listing,
        "offset",
        json!({"minimum": 0, "maximum": OFFSET_MAX}),
    );
    merge_parameter(doc, listing, "language", json!({"pattern": NO_NUL}));
    merge_parameter(doc, listing, "tag", json!({"pattern": NO_NUL}));
    // An absent precondition is no header at all: never a null.
    for header in ["If-Match", "If-None-Match"] {
        let text = json!({"type": "string"});
        merge_parameter(doc, "/api/v1/snippets/{id}", header, text);
    }
    merge_parameter(
        doc,
        listing,
        "q",
        json!({"maxLength": SEARCH_MAX_CHARS, "pattern": NO_NUL}),
    );
    merge_parameter(
        doc,
        "/api/v1/snippets/{id}",
        "id",
        json!({"format": "uuid"}),
    );
    // An event id: a stream cursor (empty means none, as an absent one does).
    let event_id = json!({"pattern": CURSOR_PATTERN, "maxLength": CURSOR_MAX_BYTES});
    for stream in ["/api/v1/events", "/api/v1/ws"] {
        merge_parameter(doc, stream, "since", event_id.clone());
    }
    merge_parameter(doc, "/api/v1/events", "Last-Event-ID", event_id);
}

/// The rules of workspaces, tokens' and questions' workspace lists, share links and the
/// audit log's query.
pub fn workspace_rules(doc: &mut Value) {
    for schema in ["NewWorkspace", "WorkspacePatch"] {
        merge_property(doc, schema, "name", text(WORKSPACE_NAME_MAX_CHARS));
        merge_property(
            doc,
            schema,
            "description",
            json!({"maxLength": WORKSPACE_DESCRIPTION_MAX_CHARS, "pattern": NO_NUL}),
        );
    }
    merge_property(doc, "WorkspacePatch", "name", json!({"type": "string"}));
    // Absent or a role, never null (the patch would then name nothing).
    if let Some(role) = doc.pointer_mut("/components/schemas/WorkspacePatch/properties/group_role")
    {
        *role = json!({"$ref": "#/components/schemas/Role",
            "description": "The role a group's members get (default reader)"});
    }
    merge_property(doc, "WorkspacePatch", "group", text(200));
    // A patch must name at least one field.
    if let Some(patch) = schema_mut(doc, "WorkspacePatch") {
        let any_field: Vec<Value> = ["name", "description", "group", "group_role"]
            .iter()
            .map(|f| json!({"required": [f]}))
            .collect();
        patch.insert("anyOf".into(), Value::Array(any_field));
    }
    let named = json!({"minItems": 1, "items": text(64)});
    merge_property(doc, "NewToken", "workspaces", named.clone());
    merge_property(
        doc,
        "NewToken",
        "workspaces",
        json!({"maxItems": TOKEN_MAX_WORKSPACES}),
    );
    merge_property(doc, "AssistRequest", "workspaces", named);
    merge_property(
        doc,
        "AssistRequest",
        "workspaces",
        json!({"maxItems": QUESTION_MAX_WORKSPACES}),
    );
    merge_property(
        doc,
        "NewShare",
        "expires_in_hours",
        json!({"minimum": 1, "maximum": SHARE_MAX_HOURS}),
    );
    let actions: Vec<&str> = std::iter::once("")
        .chain(AuditAction::ALL.iter().map(|a| a.as_str()))
        .collect();
    for path in ["/api/v1/audit", "/api/v1/workspaces/{ws}/audit"] {
        merge_parameter(doc, path, "action", json!({"enum": actions}));
        merge_parameter(doc, path, "cursor", json!({"pattern": "^[0-9]{0,18}$"}));
        merge_parameter(
            doc,
            path,
            "limit",
            json!({"minimum": 1, "maximum": AUDIT_PAGE_MAX}),
        );
    }
    // A snippet's workspace or a listing's: `personal`, `ws_…`, or empty (the personal one).
    merge_parameter(
        doc,
        "/api/v1/snippets",
        "workspace",
        json!({"maxLength": 64}),
    );
    merge_property(doc, "NewSnippet", "workspace", json!({"maxLength": 64}));
}

/// The bounds of the history's and the trash's parameters, which their handlers check.
pub fn history_rules(doc: &mut Value) {
    let page = [
        ("limit", json!({"minimum": 1, "maximum": PAGE_MAX})),
        ("offset", json!({"minimum": 0, "maximum": OFFSET_MAX})),
    ];
    for path in ["/api/v1/snippets/{id}/versions", "/api/v1/trash"] {
        for (name, rule) in &page {
            merge_parameter(doc, path, name, rule.clone());
        }
    }
    merge_parameter(doc, "/api/v1/trash", "workspace", json!({"maxLength": 64}));
    merge_parameter(
        doc,
        "/api/v1/snippets/{id}/versions/{n}/diff",
        "to",
        json!({"minimum": 1}),
    );
    // An absent precondition is no header at all, an absent flag no parameter: never a null.
    let restore = "/api/v1/snippets/{id}/versions/{n}/restore";
    merge_parameter(doc, restore, "If-Match", json!({"type": "string"}));
    merge_parameter(
        doc,
        "/api/v1/snippets/{id}",
        "permanent",
        json!({"type": "boolean"}),
    );
    for path in [
        "/api/v1/snippets/{id}/versions",
        "/api/v1/snippets/{id}/versions/{n}",
        "/api/v1/snippets/{id}/versions/{n}/diff",
        restore,
        "/api/v1/trash/{id}",
        "/api/v1/trash/{id}/restore",
    ] {
        merge_parameter(doc, path, "id", json!({"format": "uuid"}));
    }
}

/// Without `JWT_GROUPS_CLAIM` no token lists a group, so none may be bound: `group` may only
/// be null (unbound).
pub fn without_groups(doc: &mut Value) {
    let pointer = "/components/schemas/WorkspacePatch/properties/group";
    if let Some(group) = doc.pointer_mut(pointer) {
        *group = json!({"type": "null", "description": "Binding a platform group needs \
            JWT_GROUPS_CLAIM, which this server does not set"});
    }
}

/// Without an embedding provider the listing accepts `mode=text` only, and says so.
pub fn text_search_only(doc: &mut Value) {
    let pointer = "/paths/~1api~1v1~1snippets/get/parameters";
    let Some(Value::Array(parameters)) = doc.pointer_mut(pointer) else {
        return;
    };
    for parameter in parameters.iter_mut().filter(|p| p["name"] == "mode") {
        parameter["schema"] = json!({"type": "string", "enum": ["text"]});
        parameter["description"] = json!(
            "How `q` ranks. This server has no embedding provider, so only `text` (every word \
             must match, newest first); `semantic` and `hybrid` answer 422."
        );
    }
}

fn schema_mut<'a>(doc: &'a mut Value, schema: &str) -> Option<&'a mut Map<String, Value>> {
    doc.pointer_mut(&format!("/components/schemas/{schema}"))?
        .as_object_mut()
}

/// Adds `rule`'s keys to one property of a component schema.
fn merge_property(doc: &mut Value, schema: &str, property: &str, rule: Value) {
    let path = format!("/components/schemas/{schema}/properties/{property}");
    if let Some(Value::Object(target)) = doc.pointer_mut(&path) {
        merge(target, rule);
    }
}

/// Adds `rule`'s keys to the schema of a parameter of every operation on `path`.
fn merge_parameter(doc: &mut Value, path: &str, name: &str, rule: Value) {
    let pointer = format!("/paths/{}", path.replace('~', "~0").replace('/', "~1"));
    let Some(Value::Object(operations)) = doc.pointer_mut(&pointer) else {
        return;
    };
    for operation in operations.values_mut() {
        let Some(Value::Array(parameters)) = operation.get_mut("parameters") else {
            continue;
        };
        for parameter in parameters.iter_mut().filter(|p| p["name"] == name) {
            if let Some(Value::Object(schema)) = parameter.get_mut("schema") {
                merge(schema, rule.clone());
            }
        }
    }
}

fn merge(target: &mut Map<String, Value>, rule: Value) {
    if let Value::Object(rule) = rule {
        for (key, value) in rule {
            match (target.get_mut(&key), value) {
                (Some(Value::Object(inner)), Value::Object(more)) => {
                    merge(inner, Value::Object(more))
                }
                (_, value) => {
                    target.insert(key, value);
                }
            }
        }
    }
}

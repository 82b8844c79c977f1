//! The MCP server: lists the tools the caller's scopes allow, and runs a call through the
//! same use cases as REST. A failing call is a result with `isError: true` and the sentence
//! REST would put in `detail`; never another user's data.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};

use super::render;
use super::tools::{ToolSpec, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX};
use crate::error::ApiError;
use crate::extract::parse_value;
use crate::state::AppState;
use pieces_model::related::RelatedParams;
use pieces_model::{
    AssistRequest, ContextInput, Expected, ListParams, NewSnippet, SnippetPatch, ValidationError,
};
use pieces_service::auth::Principal;
use pieces_service::{DiffParams, SnippetJson, VersionParams};
use pieces_store::Removal;

/// The protocol versions served: 2025-06-18 and newer.
const VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

#[derive(Clone)]
pub struct McpServer {
    pub state: AppState,
    pub tools: Arc<Vec<ToolSpec>>,
}

/// The caller, put in the request's extensions by the authentication layer.
fn principal(context: &RequestContext<RoleServer>) -> Result<&Principal, ErrorData> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .ok_or_else(|| ErrorData::invalid_request("the request is not authenticated", None))
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "pieces-connector",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "The user's saved code snippets and live workflow context, and AI answers to \
                 development questions that draw on both.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = principal(&context)?;
        let allowed = self
            .tools
            .iter()
            .filter(|spec| caller.allows(spec.scope))
            .map(|spec| spec.tool.clone())
            .collect();
        Ok(ListToolsResult::with_all_items(allowed))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = principal(&context)?;
        let Some(spec) = self.tools.iter().find(|s| s.tool.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!("there is no tool named {:?}", request.name),
                None,
            ));
        };
        let name: &str = &spec.tool.name;
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let (outcome, result) = if !caller.allows(spec.scope) {
            let refused = ApiError::InsufficientScope(spec.scope);
            ("forbidden", failure(&refused))
        } else {
            match self
                .run(name, &caller.clone().through_mcp(), arguments)
                .await
            {
                Ok((value, text)) => ("ok", success(value, text)),
                Err(error) => ("error", failure(&error)),
            }
        };
        self.state
            .metrics
            .mcp_tool_calls
            .with_label_values(&[name, outcome])
            .inc();
        Ok(result.into())
    }
}

/// The arguments of `search_snippets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    query: Option<String>,
    mode: Option<pieces_model::SearchMode>,
    language: Option<String>,
    tag: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    workspace: Option<String>,
}

/// The arguments of the tools that name one snippet.
#[derive(Deserialize)]
struct ById {
    id: String,
}

/// The arguments of `related_snippets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelatedArgs {
    id: String,
    limit: Option<i64>,
}

/// The arguments of the history tools.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryArgs {
    id: String,
    version: Option<i64>,
    limit: Option<i64>,
}

impl McpServer {
    /// Runs one tool for `caller`: its structured result and a text rendering of it.
    async fn run(
        &self,
        tool: &str,
        caller: &Principal,
        args: Value,
    ) -> Result<(Value, String), ApiError> {
        let services = &self.state.services;
        let user = caller.user.as_str();
        match tool {
            "search_snippets" => {
                let search: Search = parse_value(args)?;
                let limit = search.limit.unwrap_or(SEARCH_LIMIT_DEFAULT);
                if !(1..=SEARCH_LIMIT_MAX).contains(&limit) {
                    let detail = format!("limit must be between 1 and {SEARCH_LIMIT_MAX}");
                    return Err(ValidationError::new("limit", detail).into());
                }
                let params = ListParams {
                    limit: Some(limit),
                    offset: search.offset,
                    language: search.language,
                    tag: search.tag,
                    q: search.query,
                    mode: search.mode,
                    workspace: search.workspace,
                };
                let page = services.snippets.list(caller, params).await?;
                let mut found = Vec::with_capacity(page.rows.len());
                for row in page.rows {
                    // A large row is read whole on its own, cut, and let go before the next.
                    if let Some(whole) = services.snippets.whole(row).await? {
                        found.push(render::found(whole.snippet));
                    }
                }
                Ok(render::search(
                    found,
                    page.total,
                    page.mode.map(|m| m.as_str()),
                ))
            }
            "get_snippet" => {
                let ById { id } = parse_value(args)?;
                let snippet = read(services.snippets.get(caller, &snippet_id(&id)?).await?)?;
                let text = render::snippet(&snippet);
                Ok((snippet, text))
            }
            "related_snippets" => {
                let asked: RelatedArgs = parse_value(args)?;
                let id = snippet_id(&asked.id)?;
                let params = RelatedParams { limit: asked.limit };
                let page = services.snippets.related(caller, &id, params).await?;
                let text = render::related(&page);
                Ok((serde_json::to_value(page).unwrap_or(Value::Null), text))
            }
            "save_snippet" => {
                let body: NewSnippet = parse_value(args)?;
                let snippet = services.snippets.create(caller, body).await?;
                let value = json!({"snippet_id": snippet.id, "snippet": snippet});
                let text = format!("saved {}", render::snippet(&value["snippet"]));
                Ok((value, text))
            }
            "update_snippet" => {
                let mut args = args;
                let id = take_id(&mut args)?;
                let expected = take_expected_version(&mut args)?;
                let patch: SnippetPatch = parse_value(args)?;
                let snippet = services
                    .snippets
                    .update(caller, &id, patch, expected)
                    .await?;
                let value = serde_json::to_value(snippet).unwrap_or(Value::Null);
                let text = format!("updated {}", render::snippet(&value));
                Ok((value, text))
            }
            "delete_snippet" => {
                let mut args = args;
                let expected = take_expected_version(&mut args)?;
                let ById { id } = parse_value(args)?;
                let id = snippet_id(&id)?;
                services
                    .snippets
                    .delete(caller, &id, Removal::ToTrash, expected)
                    .await?;
                let text = format!("deleted snippet {id}");
                Ok((json!({"deleted": id}), text))
            }
            "get_snippet_history" => {
                let asked: HistoryArgs = parse_value(args)?;
                let id = snippet_id(&asked.id)?;
                let Some(n) = asked.version else {
                    let params = VersionParams {
                        limit: asked.limit,
                        offset: None,
                    };
                    let page = services.history.list(caller, &id, params).await?;
                    let text = render::versions(&page);
                    return Ok((serde_json::to_value(page).unwrap_or(Value::Null), text));
                };
                let was = services.history.version(caller, &id, n).await?;
                let diff = services
                    .history
                    .diff(caller, &id, n, DiffParams::default())
                    .await?;
                let mut text = render::snippet(&json!(was));
                if !diff.code_diff.is_empty() {
                    text = format!("{text}\n\nchanges since:\n{}", diff.code_diff);
                }
                Ok((json!({"snippet": was, "diff_to_current": diff}), text))
            }
            "restore_snippet_version" => {
                let mut args = args;
                let expected = take_expected_version(&mut args)?;
                let asked: HistoryArgs = parse_value(args)?;
                let id = snippet_id(&asked.id)?;
                let n = asked.version.ok_or_else(|| {
                    ApiError::from(ValidationError::new(
                        "version",
                        "version: which version to restore",
                    ))
                })?;
                let snippet = services.history.restore(caller, &id, n, expected).await?;
                let value = serde_json::to_value(snippet).unwrap_or(Value::Null);
                let text = format!("restored version {n} as {}", render::snippet(&value));
                Ok((value, text))
            }
            "list_workspaces" => {
                let workspaces = services.workspaces.list(caller).await?;
                let text = render::workspaces(&workspaces);
                Ok((json!({ "workspaces": workspaces }), text))
            }
            "get_workflow_context" => match services.context.get(user).await {
                Ok(bytes) => {
                    let context: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let text = render::context(&context);
                    Ok((json!({"live": true, "context": context}), text))
                }
                Err(pieces_service::ServiceError::NotFound(_)) => Ok((
                    json!({"live": false, "context": null}),
                    "no workflow context is live for this user".to_owned(),
                )),
                Err(other) => Err(other.into()),
            },
            "set_workflow_context" => {
                let body: ContextInput = parse_value(args)?;
                let context = services.context.set(user, body).await?;
                let value = serde_json::to_value(context).unwrap_or(Value::Null);
                let text = render::context(&value);
                Ok((value, text))
            }
            "ask" => {
                let body: AssistRequest = parse_value(args)?;
                let answer = services.assist.ask(caller, body).await?;
                let text = answer.response.clone();
                Ok((serde_json::to_value(answer).unwrap_or(Value::Null), text))
            }
            _ => Err(ApiError::NotFound("tool")),
        }
    }
}

/// A snippet id as REST reads it from a path: anything but a UUID names no snippet.
fn snippet_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound("snippet"))
}

/// Takes `id` out of `update_snippet`'s arguments, leaving the patch.
fn take_id(args: &mut Value) -> Result<String, ApiError> {
    let id = args.as_object_mut().and_then(|map| map.remove("id"));
    match id {
        Some(Value::String(id)) => snippet_id(&id),
        _ => Err(ValidationError::new("id", "id: the snippet's id is required").into()),
    }
}

/// Takes `expected_version` out of a write's arguments: the version the agent last read.
fn take_expected_version(args: &mut Value) -> Result<Option<Expected>, ApiError> {
    match args
        .as_object_mut()
        .and_then(|map| map.remove("expected_version"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(version) if version >= 1 => Ok(Some(Expected::Version(version))),
            _ => Err(ValidationError::new(
                "expected_version",
                "expected_version: a version is a whole number from 1",
            )
            .into()),
        },
    }
}

fn read(SnippetJson(bytes): SnippetJson) -> Result<Value, ApiError> {
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(format!("cached snippet: {e}")))
}

fn success(value: Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result
}

/// A failed call: the sentence REST would answer, and its stable code.
fn failure(error: &ApiError) -> CallToolResult {
    let detail = error.public_detail();
    let mut body = json!({"error": error.code(), "detail": detail});
    match error {
        ApiError::Invalid { field, .. } => body["field"] = json!(field),
        // What the agent needs to redo its change on what is there now.
        ApiError::VersionConflict(current) => body["current"] = json!(current),
        _ => {}
    }
    let mut result = CallToolResult::structured_error(body);
    result.content = vec![ContentBlock::text(detail)];
    result
}

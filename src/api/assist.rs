//! `/api/v1/ai-assist`: answers a question with the cognitive service, given the user's
//! current workflow context and their most relevant snippets.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use governor::clock::{Clock, DefaultClock};
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::model::{AssistAnswer, AssistRequest, Snippet};
use crate::request_id;
use crate::state::AppState;

/// Snippets sent along with a question.
const SNIPPETS_PER_QUESTION: usize = 5;
/// Code beyond this many characters is cut from snippets sent along with a question.
const CODE_EXCERPT_CHARS: usize = 8_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ai-assist", post(assist))
}

/// Answers a development question with the user's context and snippets.
#[utoipa::path(post, path = "/api/v1/ai-assist", tag = "assist", request_body = AssistRequest,
    security(("bearer" = [])),
    responses((status = 200, body = AssistAnswer), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn assist(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<AssistRequest>,
) -> Result<Json<AssistAnswer>, ApiError> {
    if let Err(not_until) = state.assist_limiter.check_key(&user) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        // Rounded up: a client that waits exactly this long must not be refused again.
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::RateLimited {
            retry_after_secs: retry_after_secs.max(1),
        });
    }
    let question = body.validate(&state.limits)?;
    let Some(cognitive) = &state.cognitive else {
        state
            .metrics
            .upstream_requests
            .with_label_values(&["cognitive", "not_configured"])
            .inc();
        return Err(ApiError::UpstreamUnavailable(
            "AI assistance is not configured on this server (COGNITIVE_SERVICES_URL is unset)"
                .into(),
        ));
    };
    let workflow = super::workflow::current(&state, &user).await;
    let snippets = relevant_snippets(&state, &user, &question.query).await;
    let mut context = serde_json::Map::new();
    context.insert("workflow".into(), workflow.unwrap_or(Value::Null));
    context.insert("recent_snippets".into(), Value::Array(snippets));
    context.insert("timestamp".into(), json!(Utc::now()));
    context.extend(question.context);
    let body = json!({
        "query": question.query,
        "context": context,
        "model": question.model,
        "max_tokens": question.max_tokens,
        "service": "pieces_integration",
    });
    let answer = cognitive.chat(&body, &request_id::current()).await?;
    Ok(Json(answer))
}

/// Full-text matches first, then the most recent to fill. A store outage costs the answer its
/// snippets, not the answer itself.
async fn relevant_snippets(state: &AppState, user: &str, query: &str) -> Vec<Value> {
    let limit = SNIPPETS_PER_QUESTION as i64;
    let mut chosen: Vec<Snippet> = match state.store.search_relevant(user, query, limit).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot search snippets for a question");
            Vec::new()
        }
    };
    if chosen.len() < SNIPPETS_PER_QUESTION {
        let filter = crate::model::ListFilter {
            limit: limit * 2,
            offset: 0,
            language: None,
            tag: None,
            query: None,
        };
        if let Ok((recent, _)) = state.store.list_snippets(user, &filter).await {
            for s in recent {
                if chosen.len() == SNIPPETS_PER_QUESTION {
                    break;
                }
                if !chosen.iter().any(|c| c.id == s.id) {
                    chosen.push(s);
                }
            }
        }
    }
    chosen.into_iter().map(excerpt).collect()
}

fn excerpt(mut snippet: Snippet) -> Value {
    if let Some((cut, _)) = snippet.code.char_indices().nth(CODE_EXCERPT_CHARS) {
        snippet.code.truncate(cut);
    }
    serde_json::to_value(snippet).unwrap_or(Value::Null)
}

//! `/mcp` driven by the official MCP Rust SDK's client, as an AI agent or editor would.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::round_robin::RoundRobin;
use crate::support::{eventually, settings_for, snippet, status_json, user, Backend, TestApp};

on_each_backend!(an_agent_saves_searches_and_reads_a_snippet_as_rest_would);

type Client = RunningService<RoleClient, ClientConfig>;

const ALL: &[&str] = &[
    "snippets:read",
    "snippets:write",
    "context:read",
    "context:write",
    "ai",
];

/// A personal token for `who` with `scopes`, made through REST.
async fn token(app: &TestApp, who: &str, scopes: &[&str]) -> String {
    let body = json!({"name": "agent", "scopes": scopes});
    let (status, made) = status_json(app.post("/api/v1/tokens", who, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["token"].as_str().expect("secret").to_owned()
}

/// An MCP client session with `base` (a service, or a proxy in front of several) as `token`.
/// Each request opens its own connection, so a proxy may send each to another replica.
async fn connect(base: &str, token: &str) -> Client {
    let http = reqwest_mcp::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client");
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .auth_header(token.to_owned());
    let transport = StreamableHttpClientTransport::with_client(http, config);
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("pieces-tests", "1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_06_18)
    .serve(transport)
    .await
    .expect("the MCP handshake succeeds")
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    let args = args.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .expect("a tool result, never a transport error")
}

fn structured(result: &CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "the call failed: {result:?}");
    result
        .structured_content
        .clone()
        .expect("structured content")
}

/// The sentence of a failed call.
fn failed(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "the call succeeded: {result:?}"
    );
    result
        .structured_content
        .as_ref()
        .expect("structured error")["detail"]
        .as_str()
        .expect("a sentence")
        .to_owned()
}

async fn tool_names(client: &Client) -> Vec<String> {
    let listed = client.list_tools(None).await.expect("tools/list");
    let mut names: Vec<String> = listed.tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

async fn an_agent_saves_searches_and_reads_a_snippet_as_rest_would(backend: Backend) {
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/snippets"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&platform)
        .await;
    let mut settings = settings_for(&backend);
    settings.data_platform_url = Some(platform.uri());
    let app = TestApp::start_with(&backend, settings).await;
    let alice = user();
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;
    assert_eq!(
        tool_names(&agent).await.len(),
        12,
        "every tool for every scope"
    );

    let saved = call(
        &agent,
        "save_snippet",
        json!({"title": "WaitGroup example",
        "code": "var wg sync.WaitGroup", "language": "go", "tags": ["concurrency"]}),
    )
    .await;
    let saved = structured(&saved);
    let id = saved["snippet_id"].as_str().expect("id").to_owned();
    let rest_path = format!("/api/v1/snippets/{id}");
    let (status, via_rest) = status_json(app.get(&rest_path, &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(via_rest, saved["snippet"], "the same snippet REST shows");

    let found = structured(&call(&agent, "search_snippets", json!({"query": "WaitGroup"})).await);
    assert_eq!(found["total"], 1);
    assert_eq!(found["snippets"][0]["id"], id.as_str());
    assert_eq!(found["snippets"][0]["code"], "var wg sync.WaitGroup");
    let got = structured(&call(&agent, "get_snippet", json!({"id": id})).await);
    assert_eq!(got, via_rest);

    // An agent that read an older version is told, and changes nothing.
    assert_eq!(got["version"], 1);
    let stale = call(
        &agent,
        "update_snippet",
        json!({"id": id, "title": "lost", "expected_version": 7}),
    )
    .await;
    assert!(failed(&stale).contains("version 1"), "{stale:?}");
    let conflict = stale.structured_content.clone().expect("structured error");
    assert_eq!(conflict["error"], "version_conflict");
    assert_eq!(conflict["current"], via_rest, "the snippet as it is now");
    // REST has it cached now; a change through MCP must not leave the copy stale.
    let updated = call(
        &agent,
        "update_snippet",
        json!({"id": id, "title": "sync.WaitGroup", "expected_version": 1}),
    )
    .await;
    assert_eq!(structured(&updated)["title"], "sync.WaitGroup");
    assert_eq!(structured(&updated)["version"], 2);
    let (_, via_rest) = status_json(app.get(&rest_path, &alice).await).await;
    assert_eq!(
        via_rest["title"], "sync.WaitGroup",
        "the cache was invalidated"
    );

    // The agent can see what it changed, and undo it without losing anything.
    let history = structured(&call(&agent, "get_snippet_history", json!({"id": id})).await);
    assert_eq!(history["total"], 2);
    assert_eq!(history["versions"][0]["changed"], json!(["title"]));
    assert_eq!(history["versions"][0]["actor"], json!(alice));
    let was = call(
        &agent,
        "get_snippet_history",
        json!({"id": id, "version": 1}),
    );
    let was = structured(&was.await);
    assert_eq!(was["snippet"]["title"], "WaitGroup example");
    assert_eq!(
        was["diff_to_current"]["changes"]["title"],
        json!({"from": "WaitGroup example", "to": "sync.WaitGroup"})
    );
    let undo = |expected: i64| {
        call(
            &agent,
            "restore_snippet_version",
            json!({"id": id, "version": 1, "expected_version": expected}),
        )
    };
    failed(&undo(1).await);
    let restored = structured(&undo(2).await);
    assert_eq!(
        (&restored["title"], &restored["version"]),
        (&json!("WaitGroup example"), &json!(3))
    );

    let synced = eventually(Duration::from_secs(5), || async {
        let events: Vec<String> = platform
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r.body_json::<Value>().ok())
            .filter(|b| b["snippet"]["id"] == id.as_str())
            .map(|b| {
                format!(
                    "{} {}",
                    b["event"].as_str().unwrap_or_default(),
                    b["snippet"]["version"]
                )
            })
            .collect();
        // The platform can tell from the version whether it missed a change.
        events.contains(&"created 1".to_owned()) && events.contains(&"updated 2".to_owned())
    })
    .await;
    assert!(
        synced,
        "the outbox carried the MCP changes to the data platform"
    );

    let stale = call(
        &agent,
        "delete_snippet",
        json!({"id": id, "expected_version": 1}),
    )
    .await;
    failed(&stale);
    let (status, _) = status_json(app.get(&rest_path, &alice).await).await;
    assert_eq!(status, StatusCode::OK, "a stale deletion deletes nothing");
    let deleted = call(
        &agent,
        "delete_snippet",
        json!({"id": id, "expected_version": 3}),
    );
    let deleted = structured(&deleted.await);
    assert_eq!(deleted["deleted"], id.as_str());
    let gone = app.get(&rest_path, &alice).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    // In the trash: the agent no longer finds it, until it is restored.
    failed(&call(&agent, "get_snippet", json!({"id": id})).await);
    let found = call(&agent, "search_snippets", json!({"query": "WaitGroup"})).await;
    assert_eq!(structured(&found)["total"], 0);
    let restore = format!("/api/v1/trash/{id}/restore");
    let restored = app.request(Method::POST, &restore, &alice).send().await;
    assert_eq!(restored.expect("answered").status(), StatusCode::OK);
    let back = structured(&call(&agent, "get_snippet", json!({"id": id})).await);
    assert_eq!(back["version"], 4);
    agent.cancel().await.ok();
}

#[tokio::test]
async fn tools_follow_the_tokens_scopes() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let reader = connect(&app.api, &token(&app, &alice, &["snippets:read"]).await).await;
    assert_eq!(
        tool_names(&reader).await,
        [
            "get_snippet",
            "get_snippet_history",
            "list_workspaces",
            "related_snippets",
            "search_snippets"
        ]
    );
    let refused = call(
        &reader,
        "save_snippet",
        json!({"title": "t", "code": "c", "language": "go"}),
    )
    .await;
    let sentence = failed(&refused);
    assert!(sentence.contains("snippets:write"), "{sentence}");
    let (_, page) = status_json(app.get("/api/v1/snippets", &alice).await).await;
    assert_eq!(page["total"], 0, "nothing was saved");
    let forbidden = app
        .metric(
            "pieces_mcp_tool_calls_total",
            &["tool=\"save_snippet\"", "outcome=\"forbidden\""],
        )
        .await;
    assert_eq!(forbidden, 1.0);
    reader.cancel().await.ok();
}

#[tokio::test]
async fn bad_input_and_other_users_ids_fail_with_the_rest_sentence() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let (alice, bob) = (user(), user());
    let bobs = app.create(&bob, &snippet("bob's")).await;
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;

    let other = failed(&call(&agent, "get_snippet", json!({"id": bobs})).await);
    let rest = status_json(app.get(&format!("/api/v1/snippets/{bobs}"), &alice).await)
        .await
        .1;
    assert_eq!(
        other,
        rest["detail"].as_str().expect("detail"),
        "as REST says it"
    );
    assert!(
        failed(&call(&agent, "delete_snippet", json!({"id": bobs})).await).contains("not found")
    );
    assert!(
        failed(&call(&agent, "get_snippet", json!({"id": "not-a-uuid"})).await)
            .contains("not found")
    );

    let blank = call(
        &agent,
        "save_snippet",
        json!({"title": " ", "code": "x", "language": "go"}),
    )
    .await;
    let rest = app
        .post(
            "/api/v1/snippets",
            &alice,
            &json!({"title": " ", "code": "x", "language": "go"}),
        )
        .await;
    let rest = status_json(rest).await.1;
    assert_eq!(failed(&blank), rest["detail"].as_str().expect("detail"));
    assert_eq!(blank.structured_content.expect("error")["field"], "title");
    let missing = failed(&call(&agent, "save_snippet", json!({"title": "t"})).await);
    assert!(missing.contains("code"), "{missing}");
    let none = structured(&call(&agent, "get_workflow_context", json!({})).await);
    assert_eq!(none["live"], false);
    let ask = failed(&call(&agent, "ask", json!({"query": "how?"})).await);
    assert!(ask.contains("not configured"), "{ask}");
    let (_, bob_page) = status_json(app.get("/api/v1/snippets", &bob).await).await;
    assert_eq!(bob_page["total"], 1, "bob's snippet is untouched");
    agent.cancel().await.ok();
}

#[tokio::test]
async fn mcp_refuses_a_missing_token_and_a_foreign_origin() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mcp = format!("{}/mcp", app.api);
    let anonymous = app
        .http
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let foreign = app
        .http
        .post(&mcp)
        .bearer_auth(app.token(&user()))
        .header("accept", "application/json, text/event-stream")
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_one_agents_calls_in_turn() {
    let Some(backend) = Backend::postgres("two_replicas_answer_one_agents_calls_in_turn").await
    else {
        return;
    };
    let (one, two) = tokio::join!(TestApp::start(&backend), TestApp::start(&backend));
    let hosts = [&one, &two].map(|app| app.api.trim_start_matches("http://").to_owned());
    let proxy = RoundRobin::start(hosts.to_vec()).await;
    let alice = user();
    let agent = connect(&proxy.url, &token(&one, &alice, ALL).await).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let saved = call(
            &agent,
            "save_snippet",
            json!({"title": format!("replicated {n}"),
            "code": "x", "language": "rust"}),
        )
        .await;
        ids.push(
            structured(&saved)["snippet_id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    for id in &ids {
        let got = structured(&call(&agent, "get_snippet", json!({"id": id})).await);
        assert_eq!(got["id"], id.as_str());
    }
    let found = structured(&call(&agent, "search_snippets", json!({"query": "replicated"})).await);
    assert_eq!(found["total"], 4);
    let served = proxy.counts();
    assert!(
        served.iter().all(|n| *n >= 4),
        "both replicas answered: {served:?}"
    );
    agent.cancel().await.ok();
}

#[tokio::test]
async fn the_ask_tool_answers_whole_even_from_a_provider_that_streams() {
    use crate::support::ai;
    use crate::support::openai_stub::{OpenAiStub, Script};
    let stub = OpenAiStub::start(Script::answer(&["Use ", "a ", "semaphore."])).await;
    let app = ai::app(None, Some(stub.url.clone()), |_| {}).await;
    let alice = user();
    let agent = connect(&app.api, &token(&app, &alice, &["ai"]).await).await;
    let listed = agent.list_tools(None).await.expect("tools/list");
    let ask = listed.tools.iter().find(|t| t.name == "ask").expect("ask");
    assert!(
        ask.input_schema["properties"].get("stream").is_none(),
        "no streaming here"
    );
    let args = json!({"query": "limit concurrency?", "stream": true});
    let answer = structured(&call(&agent, "ask", args).await);
    assert_eq!(answer["response"], "Use a semaphore.");
    assert_eq!(
        (&answer["provider"], &answer["cached"]),
        (&json!("openai"), &json!(false))
    );
    assert_eq!(stub.calls(), 1);
}

#[tokio::test]
async fn transport_mistakes_are_the_clients_and_answer_in_kind() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let token = app.token(&user());
    let mcp = format!("{}/mcp", app.api);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for _ in 0..3 {
        let refused = app
            .http
            .post(&mcp)
            .bearer_auth(&token)
            .header("accept", "application/json")
            .json(&list)
            .send()
            .await
            .expect("sent");
        assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
        let body: Value = refused.json().await.expect("a JSON body");
        assert_eq!(body["error"], "not_acceptable", "{body}");
    }
    let malformed = app
        .http
        .post(&mcp)
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{\"jsonrpc\": \"2.0\", \"id\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("a JSON-RPC error");
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(
        app.metric("pieces_errors_total", &["internal_error"]).await,
        0.0,
        "no client's mistake counts as an internal error"
    );
}

#[tokio::test]
async fn a_search_cuts_long_code_and_get_snippet_gives_all_of_it() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let long = "fn long() {}\n".repeat(20_000);
    let mut body = snippet("long one");
    body["code"] = json!(long);
    let id = app.create(&alice, &body).await;
    app.create(&alice, &snippet("short one")).await;
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;
    let found = structured(&call(&agent, "search_snippets", json!({"limit": 50})).await);
    let items = found["snippets"].as_array().expect("snippets");
    let long_item = items.iter().find(|s| s["id"] == id).expect("the long one");
    assert_eq!(long_item["code_truncated"], true);
    assert_eq!(long_item["code_bytes"], long.len());
    assert!(long_item["code"].as_str().expect("code").len() <= 8 * 1024);
    assert!(long.starts_with(long_item["code"].as_str().expect("code")));
    let short_item = items
        .iter()
        .find(|s| s["title"] == "short one")
        .expect("short");
    assert!(short_item.get("code_truncated").is_none(), "{short_item}");
    let whole = structured(&call(&agent, "get_snippet", json!({"id": id})).await);
    assert_eq!(whole["code"], long);
    agent.cancel().await.ok();
}

#[tokio::test]
async fn an_agent_saves_and_reads_a_snippet_of_several_files() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;
    let files = json!([
        {"name": "main.go", "language": "go", "code": "package main\n"},
        {"name": "main_test.go", "language": "go", "code": "package main // quokkatest\n"},
    ]);
    let saved = call(
        &agent,
        "save_snippet",
        json!({"title": "Graceful shutdown", "files": files}),
    )
    .await;
    let saved = structured(&saved);
    assert_eq!(saved["snippet"]["files"], files, "{saved}");
    assert_eq!(saved["snippet"]["code"], "package main\n");
    let id = saved["snippet_id"].as_str().expect("id").to_owned();
    let found = structured(&call(&agent, "search_snippets", json!({"query": "quokkatest"})).await);
    assert_eq!(found["snippets"][0]["id"], id.as_str());
    assert_eq!(
        found["snippets"][0]["files"],
        json!([{"name": "main.go", "language": "go", "code_bytes": 13},
            {"name": "main_test.go", "language": "go", "code_bytes": 27}])
    );
    let got = call(&agent, "get_snippet", json!({"id": id})).await;
    assert_eq!(structured(&got)["files"], files);
    let text = format!("{:?}", got.content);
    assert!(text.contains("main_test.go:"), "{text}");
    let changed = call(
        &agent,
        "update_snippet",
        json!({"id": id, "files": [{"name": "one.go", "language": "go", "code": "package one\n"}]}),
    )
    .await;
    assert_eq!(structured(&changed)["code"], "package one\n");
    let both = call(
        &agent,
        "update_snippet",
        json!({"id": id, "code": "x", "files": files}),
    )
    .await;
    assert!(failed(&both).contains("files"), "{both:?}");
    agent.cancel().await.ok();
}

#[tokio::test]
async fn an_agent_lists_workspaces_and_searches_and_saves_in_the_one_named() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let (_, created) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "team"}))
            .await,
    )
    .await;
    let ws = created["id"].as_str().expect("id").to_owned();
    let mut team_retry = snippet("team retry");
    team_retry["workspace"] = json!(ws);
    app.create(&alice, &team_retry).await;
    app.create(&alice, &snippet("personal retry")).await;
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;

    let listed = structured(&call(&agent, "list_workspaces", json!({})).await);
    let ids: Vec<&str> = listed["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(ids, ["personal", ws.as_str()]);
    let found = structured(
        &call(
            &agent,
            "search_snippets",
            json!({"query": "retry", "workspace": ws}),
        )
        .await,
    );
    let titles: Vec<&str> = found["snippets"]
        .as_array()
        .expect("found")
        .iter()
        .filter_map(|s| s["title"].as_str())
        .collect();
    assert_eq!(titles, ["team retry"]);
    let saved = structured(
        &call(
            &agent,
            "save_snippet",
            json!({"title": "via mcp", "code": "x", "language": "go", "workspace": ws}),
        )
        .await,
    );
    assert_eq!(saved["snippet"]["workspace"], json!(ws));
    // Another's workspace is a failed call that says so, like REST's 404.
    let elsewhere = call(
        &agent,
        "search_snippets",
        json!({"query": "retry", "workspace": "ws_0190"}),
    )
    .await;
    assert!(failed(&elsewhere).contains("not found"));
    let (_, audit) = status_json(
        app.get(
            &format!("/api/v1/workspaces/{ws}/audit?action=snippet.created"),
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(audit["records"][0]["actor"]["via"], "mcp", "{audit}");
    agent.cancel().await.ok();
}

#[tokio::test]
async fn an_agent_asks_for_the_snippets_related_to_one() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let agent = connect(&app.api, &token(&app, &alice, ALL).await).await;
    let retry = json!({"title": "Retry with backoff", "code": "sleep(2 ** i)", "language": "python",
                       "tags": ["net", "retry"]});
    let fetch = json!({"title": "Fetch with a timeout", "code": "fetch(url, {signal})",
                       "language": "javascript", "tags": ["net"]});
    let retry = structured(&call(&agent, "save_snippet", retry).await)["snippet_id"].clone();
    call(&agent, "save_snippet", fetch).await;
    let related = call(&agent, "related_snippets", json!({"id": retry, "limit": 3})).await;
    let page = structured(&related);
    assert_eq!(
        page["snippets"][0]["title"], "Fetch with a timeout",
        "{page}"
    );
    assert_eq!(page["snippets"][0]["shared_tags"], json!(["net"]));
    let text = format!("{:?}", related.content);
    assert!(text.contains("tags net"), "{text}");
    let missing = call(
        &agent,
        "related_snippets",
        json!({"id": uuid::Uuid::now_v7().to_string()}),
    )
    .await;
    assert!(failed(&missing).contains("not"), "{missing:?}");
    agent.cancel().await.ok();
}

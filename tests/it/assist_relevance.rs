//! Only relevant snippets go along with a question: with the model, a question is sent the
//! snippets close to it in meaning, and a question about something never saved is sent none
//! rather than the closest of unrelated ones.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::ai::{app, ASSIST};
use crate::support::model::{embedded, model_dir};
use crate::support::openai_stub::{OpenAiStub, Script};
use crate::support::{status_json, user, TestApp};

fn saved() -> Vec<Value> {
    vec![
        json!({"title": "Retry with exponential backoff", "language": "python",
               "code": "for attempt in range(5):\n    try:\n        return call()\n    except IOError:\n        time.sleep(2 ** attempt)"}),
        json!({"title": "Find large files", "language": "bash",
               "code": "find . -type f -size +500M -exec ls -lh {} +"}),
        json!({"title": "Newest row per group", "language": "sql",
               "code": "SELECT DISTINCT ON (customer_id) * FROM orders ORDER BY customer_id, created_at DESC;"}),
        json!({"title": "Parse a CSV file with pandas", "language": "python",
               "code": "import pandas as pd\ndf = pd.read_csv('sales.csv')"}),
        json!({"title": "sync.WaitGroup example", "language": "go",
               "code": "var wg sync.WaitGroup\nwg.Add(1)\ngo func() { defer wg.Done() }()\nwg.Wait()"}),
    ]
}

/// The titles the answer names as the snippets its prompt held.
async fn sent_titles(app: &TestApp, who: &str, query: &str) -> Vec<String> {
    let (status, answer) = status_json(app.post(ASSIST, who, &json!({"query": query})).await).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["references"]
        .as_array()
        .expect("references")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_question_is_sent_only_the_snippets_close_to_it_in_meaning() {
    let Some(dir) = model_dir("a_question_is_sent_only_the_snippets_close_to_it_in_meaning") else {
        return;
    };
    let stub = OpenAiStub::start(Script::answer(&["ok"])).await;
    let app = app(None, Some(stub.url.clone()), |s| {
        s.embeddings_model_dir = Some(dir);
    })
    .await;
    let alice = user();
    for body in saved() {
        app.create(&alice, &body).await;
    }
    embedded(&app, 5.0).await;

    assert_eq!(
        sent_titles(&app, &alice, "how do I retry with backoff?").await,
        ["Retry with exponential backoff"]
    );
    assert_eq!(
        sent_titles(
            &app,
            &alice,
            "how do I wait until all my goroutines are done?"
        )
        .await,
        ["sync.WaitGroup example"]
    );
    let never_saved = "how do I train a neural network on a GPU with pytorch?";
    assert_eq!(
        sent_titles(&app, &alice, never_saved).await,
        Vec::<String>::new()
    );
    let system = stub.received().last().expect("asked").body["messages"][0]["content"]
        .as_str()
        .expect("system message")
        .to_owned();
    assert!(!system.contains("Snippets from"), "{system}");
    app.stop().await;
}

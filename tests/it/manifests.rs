//! The deployment files cannot drift from the service: ports, probe paths, variable names,
//! settings, shutdown timing and memory in every overlay of k8s/overlays/, rendered by
//! `kubectl kustomize` as deploy.sh applies it, and the Dockerfile are checked against
//! `config`. Without kubectl (its kustomize renders the overlays) the overlay tests skip with
//! a message, unless PIECES_TEST_REQUIRE_SERVICES=1 (CI) makes that a failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use pieces_connector::config::{Settings, ENV_VARS, LIVE_PATH, READY_PATH};
use pieces_connector::model::Provider;
use serde_json::Value;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_yaml_ng::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

fn list(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, found {value}"))
}

/// One overlay as `kubectl kustomize` renders it: what deploy.sh applies.
struct Overlay {
    name: String,
    resources: Vec<Value>,
}

impl Overlay {
    fn render(name: &str) -> Result<Self, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("k8s/overlays")
            .join(name);
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run kubectl: {e}"))?;
        assert!(
            output.status.success(),
            "kubectl kustomize k8s/overlays/{name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("kustomize writes UTF-8");
        // kustomize separates documents with a line of its own; no value it writes holds one.
        let resources: Vec<Value> = text
            .split("\n---\n")
            .filter(|doc| !doc.trim().is_empty())
            .map(|doc| {
                serde_yaml_ng::from_str::<Value>(doc)
                    .unwrap_or_else(|e| panic!("k8s/overlays/{name} renders invalid YAML: {e}"))
            })
            .collect();
        Ok(Self {
            name: name.to_owned(),
            resources,
        })
    }

    /// The one resource of this kind.
    fn resource(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self
            .resources
            .iter()
            .filter(|r| r["kind"] == kind)
            .collect();
        assert_eq!(found.len(), 1, "{}: one {kind}", self.name);
        found[0]
    }

    fn pod_template(&self) -> &Value {
        &self.resource("Deployment")["spec"]["template"]
    }

    fn container(&self) -> &Value {
        let containers = list(&self.pod_template()["spec"]["containers"]);
        assert_eq!(
            containers.len(),
            1,
            "{}: the pod runs the service alone",
            self.name
        );
        &containers[0]
    }

    fn configmap_data(&self) -> HashMap<String, String> {
        serde_json::from_value(self.resource("ConfigMap")["data"].clone())
            .expect("the ConfigMap's data maps names to strings")
    }

    /// Every variable the container gets: the ConfigMap's and the explicit ones (secrets).
    fn set_vars(&self) -> BTreeSet<String> {
        let explicit = list(&self.container()["env"])
            .iter()
            .map(|e| e["name"].as_str().expect("a name").to_owned());
        self.configmap_data().into_keys().chain(explicit).collect()
    }

    /// The settings a pod starts with: the ConfigMap plus stand-ins for the secrets.
    fn settings(&self) -> Settings {
        let mut vars = self.configmap_data();
        vars.insert("JWT_SECRET_KEY".into(), "k".repeat(64));
        vars.insert("API_KEY".into(), "platform-api-key".into());
        vars.insert(
            "DATABASE_URL".into(),
            "postgres://app:pw@db:5432/pieces".into(),
        );
        Settings::from_vars(vars)
            .unwrap_or_else(|e| panic!("{}: the service rejects the ConfigMap: {e}", self.name))
    }

    /// The container port a probe, Service or policy refers to, by number or by name.
    fn container_port(&self, port: &Value) -> u64 {
        if let Some(number) = port.as_u64() {
            return number;
        }
        list(&self.container()["ports"])
            .iter()
            .find(|p| p["name"] == *port)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{}: the container has no port named {port}", self.name))
    }

    /// The container's memory request or limit in MiB.
    fn memory_mib(&self, which: &str) -> u64 {
        let quantity = &self.container()["resources"][which]["memory"];
        mebibytes(quantity).unwrap_or_else(|| {
            panic!(
                "{}: memory {which} {quantity} is not in Mi or Gi",
                self.name
            )
        })
    }
}

/// Every overlay under k8s/overlays/, rendered; none when kubectl is missing (the caller
/// skips), unless PIECES_TEST_REQUIRE_SERVICES=1.
fn overlays(test: &str) -> Vec<Overlay> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/overlays");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.path().join("kustomization.yaml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no overlay under k8s/overlays/");
    let mut rendered = Vec::new();
    for name in &names {
        match Overlay::render(name) {
            Ok(overlay) => rendered.push(overlay),
            Err(why) => {
                let required = std::env::var("PIECES_TEST_REQUIRE_SERVICES")
                    .is_ok_and(|v| v == "1" || v == "true");
                if required {
                    panic!(
                        "{test}: kubectl is required (PIECES_TEST_REQUIRE_SERVICES=1) but {why}"
                    );
                }
                eprintln!("SKIPPED {test}: kubectl renders the overlays ({why}); set PIECES_TEST_REQUIRE_SERVICES=1 to fail instead");
                return Vec::new();
            }
        }
    }
    rendered
}

/// A Kubernetes memory quantity in MiB, for the units the manifests use.
fn mebibytes(quantity: &Value) -> Option<u64> {
    let text = quantity.as_str()?;
    if let Some(mi) = text.strip_suffix("Mi") {
        return mi.parse().ok();
    }
    text.strip_suffix("Gi")?
        .parse::<u64>()
        .ok()
        .map(|gi| gi * 1024)
}

/// API, metrics and health ports, in that order.
fn served_ports(settings: &Settings) -> [u64; 3] {
    [
        settings.api_port,
        settings.metrics_port,
        settings.health_port,
    ]
    .map(u64::from)
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels[k] == *v)
}

/// k8s/settings-left-out.yaml: for each section (`all`, or an overlay's name), the settings
/// left unset and why.
fn left_out() -> BTreeMap<String, BTreeMap<String, String>> {
    serde_json::from_value(yaml("k8s/settings-left-out.yaml"))
        .expect("k8s/settings-left-out.yaml maps sections to settings and their reasons")
}

/// The Dockerfile's stages by name (`FROM ... AS name`), each with its lines.
fn dockerfile_stages() -> HashMap<String, Vec<String>> {
    let mut stages: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = None;
    for line in read("Dockerfile").lines() {
        if let Some(from) = line.strip_prefix("FROM ") {
            current = from
                .split_once(" AS ")
                .map(|(_, name)| name.trim().to_owned());
        }
        if let Some(name) = &current {
            stages
                .entry(name.clone())
                .or_default()
                .push(line.to_owned());
        }
    }
    stages
}

#[test]
fn deployment_env_vars_are_all_known_to_the_service() {
    for overlay in overlays("deployment_env_vars_are_all_known_to_the_service") {
        let unknown: Vec<_> = overlay
            .set_vars()
            .into_iter()
            .filter(|n| !ENV_VARS.contains(&n.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{}: not in config::ENV_VARS: {unknown:?}",
            overlay.name
        );
        let from = &overlay.container()["envFrom"][0]["configMapRef"]["name"];
        assert_eq!(
            *from,
            overlay.resource("ConfigMap")["metadata"]["name"],
            "{}: the pod reads the ConfigMap as kustomize named it",
            overlay.name
        );
    }
}

#[test]
fn every_setting_is_set_or_left_out_with_a_reason() {
    let left_out = left_out();
    let overlays = overlays("every_setting_is_set_or_left_out_with_a_reason");
    for section in left_out.keys() {
        assert!(
            section == "all" || overlays.is_empty() || overlays.iter().any(|o| o.name == *section),
            "k8s/settings-left-out.yaml: section {section} is neither `all` nor an overlay"
        );
    }
    for (section, settings) in &left_out {
        for (name, reason) in settings {
            assert!(
                ENV_VARS.contains(&name.as_str()),
                "k8s/settings-left-out.yaml: {section}: {name} is not a setting the service reads"
            );
            assert!(
                reason.trim().len() > 10,
                "k8s/settings-left-out.yaml: {section}: {name} needs its reason"
            );
        }
    }
    let none = BTreeMap::new();
    for overlay in overlays {
        let set = overlay.set_vars();
        let own = left_out.get(&overlay.name).unwrap_or(&none);
        let unset: BTreeSet<&String> = left_out["all"].keys().chain(own.keys()).collect();
        let neither: Vec<_> = ENV_VARS
            .iter()
            .filter(|v| !set.contains(**v) && !unset.iter().any(|u| u == *v))
            .collect();
        assert!(
            neither.is_empty(),
            "{}: set these in the ConfigMap or list them, with the reason, in k8s/settings-left-out.yaml: {neither:?}",
            overlay.name
        );
        let both: Vec<_> = unset.iter().filter(|u| set.contains(**u)).collect();
        assert!(
            both.is_empty(),
            "{}: set, yet listed as left out: {both:?}",
            overlay.name
        );
    }
}

#[test]
fn secrets_come_from_the_platform_secret_names() {
    for overlay in overlays("secrets_come_from_the_platform_secret_names") {
        let (container, configmap) = (overlay.container(), overlay.configmap_data());
        for (var, secret, key, optional) in [
            ("JWT_SECRET_KEY", "aiwfe-auth-secret", "jwt-secret", false),
            ("API_KEY", "aiwfe-api-secret", "api-key", false),
            ("PIECES_API_KEY", "pieces-api-secret", "api-key", true),
            ("DATABASE_URL", "pieces-connector-db", "database-url", false),
        ] {
            let entry = list(&container["env"]).iter().find(|e| e["name"] == var);
            let entry = entry.unwrap_or_else(|| panic!("{}: {var} is not set", overlay.name));
            let source = &entry["valueFrom"]["secretKeyRef"];
            let found = (&source["name"], &source["key"], source["optional"] == true);
            assert_eq!(
                found,
                (&secret.into(), &key.into(), optional),
                "{}: {var}",
                overlay.name
            );
            assert!(
                !configmap.contains_key(var),
                "{}: {var} is a secret",
                overlay.name
            );
        }
    }
}

#[test]
fn configmap_is_accepted_by_the_service_and_names_the_platform_services() {
    for overlay in overlays("configmap_is_accepted_by_the_service_and_names_the_platform_services")
    {
        let s = overlay.settings();
        for (var, set) in [
            ("GATEWAY_URL", s.gateway_url.is_some()),
            ("COGNITIVE_SERVICES_URL", s.cognitive_services_url.is_some()),
            ("DATA_PLATFORM_URL", s.data_platform_url.is_some()),
            ("REDIS_URL", s.redis_url.is_some()),
        ] {
            assert!(set, "{}: the ConfigMap does not set {var}", overlay.name);
        }
        assert_eq!(
            s.answering_providers().first(),
            Some(&Provider::Cognitive),
            "{}: the platform's cognitive service answers first",
            overlay.name
        );
    }
}

#[test]
fn embedding_overlays_search_by_meaning_and_the_others_by_text() {
    for overlay in overlays("embedding_overlays_search_by_meaning_and_the_others_by_text") {
        let s = overlay.settings();
        let provider = s.embeddings_url.is_some() || s.embeddings_model_dir.is_some();
        assert_eq!(
            provider,
            overlay.name.starts_with("embeddings-"),
            "{}: an embedding provider exactly in the embeddings-* overlays",
            overlay.name
        );
        if s.embeddings_url.is_some() {
            assert!(
                s.answering_providers().contains(&Provider::Openai),
                "{}: the model server that embeds also answers when the platform cannot",
                overlay.name
            );
        }
    }
}

#[test]
fn a_local_model_overlay_runs_the_image_stage_that_holds_the_model_and_its_licence() {
    let stages = dockerfile_stages();
    let overlays =
        overlays("a_local_model_overlay_runs_the_image_stage_that_holds_the_model_and_its_licence");
    for overlay in overlays {
        let Some(dir) = overlay.settings().embeddings_model_dir else {
            continue;
        };
        let dir = dir.to_str().expect("a UTF-8 path").to_owned();
        // deploy.sh builds the Dockerfile stage named after the overlay.
        let stage = stages.get(&overlay.name).unwrap_or_else(|| {
            panic!(
                "{}: no Dockerfile stage of that name to build",
                overlay.name
            )
        });
        assert!(
            stage
                .iter()
                .any(|l| l.strip_prefix("ENV EMBEDDINGS_MODEL_DIR=") == Some(dir.as_str())),
            "{}: the image's EMBEDDINGS_MODEL_DIR is {dir}",
            overlay.name
        );
        let copy = stage
            .iter()
            .find(|l| l.starts_with("COPY --from=") && l.ends_with(&format!(" {dir}")))
            .unwrap_or_else(|| panic!("{}: the stage copies no model into {dir}", overlay.name));
        let source = copy
            .strip_prefix("COPY --from=")
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a stage name");
        let fetched = stages
            .get(source)
            .unwrap_or_else(|| panic!("no Dockerfile stage {source}"))
            .join("\n");
        for file in [
            "config.json",
            "tokenizer.json",
            "model.safetensors",
            "LICENSE",
        ] {
            assert!(
                fetched.contains(file),
                "{}: stage {source} puts no {file} beside the model",
                overlay.name
            );
        }
    }
}

#[test]
fn container_ports_match_the_service_defaults_or_configmap() {
    for overlay in overlays("container_ports_match_the_service_defaults_or_configmap") {
        let settings = overlay.settings();
        let named = ["http", "metrics", "health"].map(|name| overlay.container_port(&name.into()));
        assert_eq!(named, served_ports(&settings), "{}", overlay.name);
        // The Dockerfile's EXPOSE and HEALTHCHECK rely on the defaults.
        assert_eq!(
            served_ports(&settings),
            served_ports(&Settings::default()),
            "{}",
            overlay.name
        );
    }
}

#[test]
fn probe_ports_and_paths_match_the_service() {
    for overlay in overlays("probe_ports_and_paths_match_the_service") {
        let container = overlay.container();
        let health = served_ports(&overlay.settings())[2];
        for (probe, path) in [
            ("startupProbe", LIVE_PATH),
            ("livenessProbe", LIVE_PATH),
            ("readinessProbe", READY_PATH),
        ] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{}: {probe} path", overlay.name);
            assert_eq!(
                overlay.container_port(&get["port"]),
                health,
                "{}: {probe} port",
                overlay.name
            );
        }
    }
}

#[test]
fn termination_grace_outlasts_prestop_plus_shutdown_timeout() {
    for overlay in overlays("termination_grace_outlasts_prestop_plus_shutdown_timeout") {
        let set_explicitly = overlay
            .configmap_data()
            .contains_key("SHUTDOWN_TIMEOUT_SECS");
        assert!(
            set_explicitly,
            "{}: the grace period is derived from SHUTDOWN_TIMEOUT_SECS: set it",
            overlay.name
        );
        let grace = overlay.pod_template()["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("grace");
        let pre_stop = overlay.container()["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64();
        let pre_stop = pre_stop.expect("a preStop sleep handler (the image has no shell)");
        let shutdown = overlay.settings().shutdown_timeout_secs;
        assert!(
            grace > pre_stop + shutdown,
            "{}: {grace} s <= {pre_stop} s + {shutdown} s",
            overlay.name
        );
    }
}

#[test]
fn service_exposes_api_and_metrics_ports() {
    for overlay in overlays("service_exposes_api_and_metrics_ports") {
        let [api, metrics, _] = served_ports(&overlay.settings());
        let port = |p: &Value| {
            let name = p["name"].as_str().unwrap().to_owned();
            (
                name,
                p["port"].as_u64().unwrap(),
                overlay.container_port(&p["targetPort"]),
            )
        };
        let ports: BTreeSet<_> = list(&overlay.resource("Service")["spec"]["ports"])
            .iter()
            .map(port)
            .collect();
        let expected = [
            ("http".into(), api, api),
            ("metrics".into(), metrics, metrics),
        ];
        assert_eq!(ports, BTreeSet::from(expected), "{}", overlay.name);
    }
}

#[test]
fn selectors_match_the_pod_and_service_labels() {
    let monitor = yaml("k8s/monitoring/servicemonitor.yaml");
    for overlay in overlays("selectors_match_the_pod_and_service_labels") {
        let pods = &overlay.pod_template()["metadata"]["labels"];
        for (kind, selector) in [
            ("Deployment", "/spec/selector/matchLabels"),
            ("Service", "/spec/selector"),
            ("PodDisruptionBudget", "/spec/selector/matchLabels"),
            ("NetworkPolicy", "/spec/podSelector/matchLabels"),
        ] {
            let doc = overlay.resource(kind);
            assert!(
                selects(&doc.pointer(selector).cloned().unwrap_or_default(), pods),
                "{}: {kind}",
                overlay.name
            );
        }
        let services = &overlay.resource("Service")["metadata"]["labels"];
        assert!(
            selects(&monitor["spec"]["selector"]["matchLabels"], services),
            "{}: ServiceMonitor",
            overlay.name
        );
        let target = &overlay.resource("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"];
        assert_eq!(
            *target,
            overlay.resource("Deployment")["metadata"]["name"],
            "{}",
            overlay.name
        );
    }
}

#[test]
fn network_policy_admits_only_the_served_ports() {
    for overlay in overlays("network_policy_admits_only_the_served_ports") {
        let policy = overlay.resource("NetworkPolicy");
        let admitted: BTreeSet<u64> = list(&policy["spec"]["ingress"])
            .iter()
            .flat_map(|rule| {
                list(&rule["ports"])
                    .iter()
                    .map(|p| overlay.container_port(&p["port"]))
            })
            .collect();
        assert_eq!(
            admitted,
            BTreeSet::from(served_ports(&overlay.settings())),
            "{}",
            overlay.name
        );
    }
}

#[test]
fn network_policy_lets_the_pods_reach_every_configured_upstream() {
    for overlay in overlays("network_policy_lets_the_pods_reach_every_configured_upstream") {
        let policy = overlay.resource("NetworkPolicy");
        let rules = list(&policy["spec"]["egress"]);
        // A rule without ports admits every port.
        let reachable = |port: u64| {
            rules.iter().any(|rule| {
                rule.get("ports").is_none()
                    || list(&rule["ports"])
                        .iter()
                        .any(|p| p["port"].as_u64() == Some(port) && p["protocol"] != "UDP")
            })
        };
        let configmap = overlay.configmap_data();
        let upstreams = [
            "GATEWAY_URL",
            "COGNITIVE_SERVICES_URL",
            "DATA_PLATFORM_URL",
            "REDIS_URL",
            "OPENAI_BASE_URL",
            "EMBEDDINGS_URL",
        ];
        for var in upstreams {
            let Some(value) = configmap.get(var) else {
                continue;
            };
            let url = url::Url::parse(value)
                .unwrap_or_else(|e| panic!("{}: {var} is not a URL: {e}", overlay.name));
            let port = url
                .port_or_known_default()
                .unwrap_or_else(|| panic!("{}: {var} names no port", overlay.name));
            assert!(
                reachable(u64::from(port)),
                "{}: the NetworkPolicy blocks {var} ({value}): no egress rule for port {port}",
                overlay.name
            );
        }
    }
}

#[test]
fn metrics_are_scraped_from_the_metrics_port() {
    let monitor = yaml("k8s/monitoring/servicemonitor.yaml");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    for overlay in overlays("metrics_are_scraped_from_the_metrics_port") {
        let metrics = served_ports(&overlay.settings())[1];
        let service = overlay.resource("Service");
        let port = list(&service["spec"]["ports"])
            .iter()
            .find(|p| p["name"] == endpoint["port"]);
        let port = port.expect("the ServiceMonitor names a Service port");
        assert_eq!(
            overlay.container_port(&port["targetPort"]),
            metrics,
            "{}",
            overlay.name
        );
        let annotation = &overlay.pod_template()["metadata"]["annotations"]["prometheus.io/port"];
        assert_eq!(
            annotation.as_str(),
            Some(metrics.to_string().as_str()),
            "{}",
            overlay.name
        );
    }
}

#[test]
fn memory_budgets_fit_the_limit_and_the_autoscaler_acts_below_it() {
    for overlay in overlays("memory_budgets_fit_the_limit_and_the_autoscaler_acts_below_it") {
        let (request, limit) = (overlay.memory_mib("requests"), overlay.memory_mib("limits"));
        assert!(
            request <= limit,
            "{}: request {request} MiB > limit {limit} MiB",
            overlay.name
        );
        let settings = overlay.settings();
        if settings.embeddings_url.is_some() || settings.embeddings_model_dir.is_some() {
            let kept = (settings.vector_index_max_bytes + settings.near_cache_max_bytes) >> 20;
            assert!(
                kept < request,
                "{}: the vector indexes and the near cache alone ({kept} MiB) fill the request ({request} MiB)",
                overlay.name
            );
        }
        let hpa = overlay.resource("HorizontalPodAutoscaler");
        let memory = list(&hpa["spec"]["metrics"])
            .iter()
            .find(|m| m["resource"]["name"] == "memory")
            .unwrap_or_else(|| panic!("{}: the autoscaler watches memory", overlay.name));
        let percent = memory["resource"]["target"]["averageUtilization"]
            .as_u64()
            .expect("a utilisation target");
        let target = request * percent / 100;
        assert!(
            target < limit,
            "{}: the autoscaler's memory target ({target} MiB) is not below the limit ({limit} MiB)",
            overlay.name
        );
    }
}

#[test]
fn dockerfile_exposes_the_service_ports_and_checks_health_with_the_binary() {
    let dockerfile = read("Dockerfile");
    let exposed: BTreeSet<u64> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("EXPOSE "))
        .flat_map(|ports| {
            ports
                .split_whitespace()
                .map(|p| p.parse().expect("a port number"))
        })
        .collect();
    assert_eq!(exposed, BTreeSet::from(served_ports(&Settings::default())));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/pieces-connector", "healthcheck"]"#));
}

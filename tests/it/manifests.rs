//! The deployment files cannot drift from the service: ports, probe paths, variable names and
//! shutdown timing in k8s/ and the Dockerfile are checked against `config`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use pieces_connector::config::{Settings, ENV_VARS, LIVE_PATH, READY_PATH};
use serde_json::Value;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn manifest(name: &str) -> Value {
    serde_yaml_ng::from_str(&read(&format!("k8s/{name}")))
        .unwrap_or_else(|e| panic!("k8s/{name} is not valid YAML: {e}"))
}

fn list(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, found {value}"))
}

fn pod_template() -> Value {
    manifest("deployment.yaml")["spec"]["template"].take()
}

fn container() -> Value {
    let containers = list(&pod_template()["spec"]["containers"]).clone();
    assert_eq!(containers.len(), 1, "the pod runs the service alone");
    containers[0].clone()
}

fn configmap_data() -> HashMap<String, String> {
    serde_json::from_value(manifest("configmap.yaml")["data"].take())
        .expect("the ConfigMap's data maps names to strings")
}

/// The settings a pod starts with: the ConfigMap plus stand-ins for the secrets.
fn settings_in_cluster() -> Settings {
    let mut vars = configmap_data();
    vars.insert("JWT_SECRET_KEY".into(), "k".repeat(64));
    vars.insert("API_KEY".into(), "platform-api-key".into());
    vars.insert(
        "DATABASE_URL".into(),
        "postgres://app:pw@db:5432/pieces".into(),
    );
    Settings::from_vars(vars).unwrap_or_else(|e| panic!("the service rejects the ConfigMap: {e}"))
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

/// The container port a probe, Service or policy refers to, by number or by name.
fn container_port(port: &Value) -> u64 {
    if let Some(number) = port.as_u64() {
        return number;
    }
    list(&container()["ports"])
        .iter()
        .find(|p| p["name"] == *port)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("the container has no port named {port}"))
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels[k] == *v)
}

#[test]
fn deployment_env_vars_are_all_known_to_the_service() {
    let container = container();
    let explicit = list(&container["env"])
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned());
    let names: Vec<String> = configmap_data().into_keys().chain(explicit).collect();
    let unknown: Vec<_> = names
        .iter()
        .filter(|n| !ENV_VARS.contains(&n.as_str()))
        .collect();
    assert!(unknown.is_empty(), "not in config::ENV_VARS: {unknown:?}");
    let from = &container["envFrom"][0]["configMapRef"]["name"];
    assert_eq!(*from, manifest("configmap.yaml")["metadata"]["name"]);
}

#[test]
fn secrets_come_from_the_platform_secret_names() {
    let (container, configmap) = (container(), configmap_data());
    for (var, secret, key, optional) in [
        ("JWT_SECRET_KEY", "aiwfe-auth-secret", "jwt-secret", false),
        ("API_KEY", "aiwfe-api-secret", "api-key", false),
        ("PIECES_API_KEY", "pieces-api-secret", "api-key", true),
        ("DATABASE_URL", "pieces-connector-db", "database-url", false),
    ] {
        let entry = list(&container["env"]).iter().find(|e| e["name"] == var);
        let entry = entry.unwrap_or_else(|| panic!("{var} is not set"));
        let source = &entry["valueFrom"]["secretKeyRef"];
        let found = (&source["name"], &source["key"], source["optional"] == true);
        assert_eq!(found, (&secret.into(), &key.into(), optional), "{var}");
        assert!(!configmap.contains_key(var), "{var} is a secret");
    }
}

#[test]
fn configmap_is_accepted_by_the_service_and_names_the_platform_services() {
    let s = settings_in_cluster();
    for (var, set) in [
        ("GATEWAY_URL", s.gateway_url.is_some()),
        ("COGNITIVE_SERVICES_URL", s.cognitive_services_url.is_some()),
        ("DATA_PLATFORM_URL", s.data_platform_url.is_some()),
        ("REDIS_URL", s.redis_url.is_some()),
    ] {
        assert!(set, "the ConfigMap does not set {var}");
    }
}

#[test]
fn container_ports_match_the_service_defaults_or_configmap() {
    let settings = settings_in_cluster();
    let named = ["http", "metrics", "health"].map(|name| container_port(&name.into()));
    assert_eq!(named, served_ports(&settings));
    // The Dockerfile's EXPOSE and HEALTHCHECK rely on the defaults.
    assert_eq!(served_ports(&settings), served_ports(&Settings::default()));
}

#[test]
fn probe_ports_and_paths_match_the_service() {
    let container = container();
    let health = served_ports(&settings_in_cluster())[2];
    for (probe, path) in [
        ("startupProbe", LIVE_PATH),
        ("livenessProbe", LIVE_PATH),
        ("readinessProbe", READY_PATH),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe} path");
        assert_eq!(container_port(&get["port"]), health, "{probe} port");
    }
}

#[test]
fn termination_grace_outlasts_prestop_plus_shutdown_timeout() {
    let set_explicitly = configmap_data().contains_key("SHUTDOWN_TIMEOUT_SECS");
    assert!(
        set_explicitly,
        "the grace period is derived from SHUTDOWN_TIMEOUT_SECS: set it"
    );
    let grace = pod_template()["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");
    let pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64();
    let pre_stop = pre_stop.expect("a preStop sleep handler (the image has no shell)");
    let shutdown = settings_in_cluster().shutdown_timeout_secs;
    assert!(
        grace > pre_stop + shutdown,
        "{grace} s <= {pre_stop} s + {shutdown} s"
    );
}

#[test]
fn service_exposes_api_and_metrics_ports() {
    let [api, metrics, _] = served_ports(&settings_in_cluster());
    let service = manifest("service.yaml");
    let port = |p: &Value| {
        let name = p["name"].as_str().unwrap().to_owned();
        (
            name,
            p["port"].as_u64().unwrap(),
            container_port(&p["targetPort"]),
        )
    };
    let ports: BTreeSet<_> = list(&service["spec"]["ports"]).iter().map(port).collect();
    let expected = [
        ("http".into(), api, api),
        ("metrics".into(), metrics, metrics),
    ];
    assert_eq!(ports, BTreeSet::from(expected));
}

#[test]
fn selectors_match_the_pod_and_service_labels() {
    let pods = &pod_template()["metadata"]["labels"];
    for (file, selector) in [
        ("deployment.yaml", "/spec/selector/matchLabels"),
        ("service.yaml", "/spec/selector"),
        ("pdb.yaml", "/spec/selector/matchLabels"),
        ("networkpolicy.yaml", "/spec/podSelector/matchLabels"),
    ] {
        let doc = manifest(file);
        assert!(
            selects(&doc.pointer(selector).cloned().unwrap_or_default(), pods),
            "{file}"
        );
    }
    let monitor = manifest("monitoring/servicemonitor.yaml");
    let services = &manifest("service.yaml")["metadata"]["labels"];
    assert!(
        selects(&monitor["spec"]["selector"]["matchLabels"], services),
        "ServiceMonitor"
    );
    let target = &manifest("hpa.yaml")["spec"]["scaleTargetRef"]["name"];
    assert_eq!(*target, manifest("deployment.yaml")["metadata"]["name"]);
}

#[test]
fn network_policy_admits_only_the_served_ports() {
    let policy = manifest("networkpolicy.yaml");
    let admitted: BTreeSet<u64> = list(&policy["spec"]["ingress"])
        .iter()
        .flat_map(|rule| {
            list(&rule["ports"])
                .iter()
                .map(|p| container_port(&p["port"]))
        })
        .collect();
    assert_eq!(
        admitted,
        BTreeSet::from(served_ports(&settings_in_cluster()))
    );
}

#[test]
fn metrics_are_scraped_from_the_metrics_port() {
    let metrics = served_ports(&settings_in_cluster())[1];
    let monitor = manifest("monitoring/servicemonitor.yaml");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    let service = manifest("service.yaml");
    let port = list(&service["spec"]["ports"])
        .iter()
        .find(|p| p["name"] == endpoint["port"]);
    let port = port.expect("the ServiceMonitor names a Service port");
    assert_eq!(container_port(&port["targetPort"]), metrics);
    let annotation = &pod_template()["metadata"]["annotations"]["prometheus.io/port"];
    assert_eq!(annotation.as_str(), Some(metrics.to_string().as_str()));
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

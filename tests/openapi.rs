//! `schemas/openapi.yaml` against the real service: a real nats-server and tracker,
//! simulated events, then every path of the spec is requested and each answer is checked
//! against what the spec says for it (status documented, content type, JSON bodies
//! validated with the spec's own schemas). Also checks the spec against the code's enums
//! (rejection codes, roles, scopes, report formats and their content types) and that the
//! schemas are strict enough to catch a drifting `MonthReport`.

mod common;

use abstraction_tracker::app::serve::{self, ServeConfig};
use abstraction_tracker::clock::Clock;
use abstraction_tracker::domain::calendar::Month;
use abstraction_tracker::domain::contribution::{AbstractedCell, AbstractionKey};
use abstraction_tracker::domain::event::{Role, Scope};
use abstraction_tracker::domain::readmodel::{LpaMonth, SectorMonth};
use abstraction_tracker::domain::reference::Reference;
use abstraction_tracker::domain::reject::RejectCode;
use abstraction_tracker::domain::report::{month_report, LpaInputs};
use abstraction_tracker::ingest::IngestConfig;
use abstraction_tracker::render::Format;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.yaml");
const MONTH: &str = "2024-03";

struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
        let doc: Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{SPEC} is not YAML: {e}"));
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "the spec is OpenAPI 3.1: {}",
            doc["openapi"]
        );
        Spec { doc }
    }

    /// Follows a local `$ref` (any depth) to the object it names.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let ptr = r
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("only local refs are used: {r}"));
                    v = self
                        .doc
                        .pointer(ptr)
                        .unwrap_or_else(|| panic!("dangling $ref {r}"));
                }
                None => return v,
            }
        }
        panic!("$ref cycle")
    }

    fn schemas(&self) -> &serde_json::Map<String, Value> {
        self.doc["components"]["schemas"]
            .as_object()
            .expect("components.schemas")
    }

    /// A validator for `schema` (a schema object of the spec, possibly a `$ref`), with
    /// every component schema under `$defs` and `#/components/schemas/` refs rewritten.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut defs = Value::Object(self.schemas().clone());
        rewrite_refs(&mut defs);
        let mut root = schema.clone();
        rewrite_refs(&mut root);
        let obj = root.as_object_mut().expect("a schema object");
        assert!(!obj.contains_key("$defs"));
        obj.insert("$defs".into(), defs);
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema compiles: {e}"))
    }

    fn component(&self, name: &str) -> jsonschema::Validator {
        assert!(self.schemas().contains_key(name), "no component {name}");
        self.validator(&json!({ "$ref": format!("#/components/schemas/{name}") }))
    }

    /// `paths.<path>.get`, or `post` for the one path that only takes a POST (issuing).
    fn get_op(&self, path: &str) -> &Value {
        let op = &self.doc["paths"][path][self.method(path).to_lowercase()];
        assert!(op.is_object(), "spec has GET or POST {path}");
        op
    }

    /// The method of a path: GET, or POST where the spec has no GET.
    fn method(&self, path: &str) -> &'static str {
        match self.doc["paths"][path]["get"].is_object() {
            true => "GET",
            false => "POST",
        }
    }

    /// The response object of `status` for `GET path`, `$ref`s followed.
    fn response(&self, path: &str, status: u16) -> Option<&Value> {
        self.get_op(path)["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r))
    }

    /// Path and operation parameters of `GET path`, `$ref`s followed.
    fn parameters(&self, path: &str) -> Vec<&Value> {
        let mut out = Vec::new();
        for list in [
            &self.doc["paths"][path]["parameters"],
            &self.get_op(path)["parameters"],
        ] {
            for p in list.as_array().into_iter().flatten() {
                out.push(self.resolve(p));
            }
        }
        out
    }

    fn format_param(&self) -> &Value {
        self.parameters("/api/v1/reports/monthly/{month}")
            .into_iter()
            .find(|p| p["name"] == "format")
            .expect("the report has a format parameter")
    }

    /// Security requirements of an operation (the operation's own, else the document's).
    fn security(&self, path: &str) -> Vec<Value> {
        let op = self.get_op(path);
        op.get("security")
            .or_else(|| self.doc.get("security"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => {
                        if let Some(rest) = s.strip_prefix("#/components/schemas/") {
                            *s = format!("#/$defs/{rest}");
                        }
                    }
                    (_, x) => rewrite_refs(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .take(10)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errs = errors(v, instance);
    assert!(errs.is_empty(), "{what} does not match the spec: {errs:#?}");
}

/// An HTTP answer with the headers the spec talks about.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: String,
}

async fn fetch(url: &str, token: Option<&str>) -> Answer {
    send("GET", url, token).await
}

/// A GET or (empty-bodied) POST.
async fn send(method: &'static str, url: impl Into<String>, token: Option<&str>) -> Answer {
    let url: String = url.into();
    let token = token.map(|t| format!("Bearer {t}"));
    tokio::task::spawn_blocking(move || {
        let sent = match (method, token) {
            ("GET", None) => agent().get(&url).call(),
            ("GET", Some(t)) => agent().get(&url).header("Authorization", t).call(),
            (_, None) => agent().post(&url).send_empty(),
            (_, Some(t)) => agent().post(&url).header("Authorization", t).send_empty(),
        };
        let mut r = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let www_authenticate = header("www-authenticate");
        Answer {
            status: r.status().as_u16(),
            content_type,
            www_authenticate,
            body: r
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_string()
                .unwrap_or_else(|e| panic!("GET {url}: body: {e}")),
        }
    })
    .await
    .unwrap()
}

fn json_body(a: &Answer, what: &str) -> Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", a.body))
}

/// Checks one answer against the spec's `GET path`: the status is documented, the
/// content type is one the spec lists for it, and a JSON body matches the schema given
/// for it. Returns the media type matched.
#[track_caller]
fn conforms(spec: &Spec, path: &str, a: &Answer, what: &str) -> String {
    let resp = spec
        .response(path, a.status)
        .unwrap_or_else(|| panic!("{what}: status {} is not documented for {path}", a.status));
    let content = resp["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: response {} of {path} has no content", a.status));
    let media = content.get(&a.content_type).unwrap_or_else(|| {
        panic!(
            "{what}: content type {:?} is not one of {:?}",
            a.content_type,
            content.keys().collect::<Vec<_>>()
        )
    });
    if a.content_type.starts_with("application/json") {
        let v = spec.validator(&media["schema"]);
        assert_valid(&v, &json_body(a, what), what);
    } else if let Some(c) = media["schema"].get("const") {
        assert_eq!(Some(a.body.as_str()), c.as_str(), "{what}: body");
    }
    a.content_type.clone()
}

fn concrete(path: &str) -> String {
    path.replace("{month}", MONTH)
        .replace("{lpa}", "dudley")
        .replace("{issue}", "1")
}

fn sum_outcomes(text: &str) -> f64 {
    ["applied", "duplicate", "rejected"]
        .iter()
        .map(|o| {
            metric(
                text,
                &format!(r#"abstraction_tracker_events_total{{outcome="{o}"}}"#),
            )
            .unwrap_or(0.0)
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_the_running_service_matches_the_spec() {
    let spec = Spec::load();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let tracker = Tracker::start(&nats.url(), data.path()).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());

    let mut lines = simulated("2024-03-01", "2024-03-31", 200, 9);
    assert!(lines.len() > 100, "the simulation produced events");
    // One abstraction still open, for the open list's schema.
    let open = event(
        "openapi-open-1",
        "dudley",
        "2024-03-30T08:00:00Z",
        started(
            "openapi-open",
            abstraction(
                "o-openapi",
                Role::Pc,
                "dudley-town",
                "response_cover",
                "2024-03-30T08:00:00Z",
            ),
        ),
    );
    lines.push(serde_json::to_vec(&open).unwrap());
    publish_events(&js, &lines).await;
    let metrics_url = format!("{}/metrics", tracker.base);
    let n = lines.len() as f64;
    wait_for(Duration::from_secs(60), "every event handled", || {
        let url = metrics_url.clone();
        async move { sum_outcomes(&get(&url).await.1) >= n }
    })
    .await;
    tracker.wait_ready().await;

    // Every path of the spec is served, with a documented status and content type.
    let paths: Vec<String> = spec.doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        paths.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "/metrics",
            "/healthz",
            "/readyz",
            "/api/v1/months/{month}",
            "/api/v1/reports/monthly/{month}",
            "/api/v1/lpas/{lpa}/months/{month}/abstractions",
            "/api/v1/lpas/{lpa}/months/{month}/shifts",
            "/api/v1/lpas/{lpa}/abstractions/open",
            "/api/v1/reports/monthly/{month}/issue",
            "/api/v1/reports/monthly/{month}/issues",
            "/api/v1/reports/monthly/{month}/issues/{issue}",
        ]),
        "the spec documents exactly the contract's paths"
    );
    // Issues (contract v3 section 13): March issued once, so every month entry carries
    // a `revision`; the as-of month is refused, an absent issue is 404.
    let issue = "/api/v1/reports/monthly/{month}/issue";
    let a = send(
        "POST",
        &format!("{}{}", tracker.base, concrete(issue)),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "POST {issue}: {}", a.body);
    conforms(&spec, issue, &a, "the issue");
    let a = send(
        "POST",
        &format!("{}/api/v1/reports/monthly/2024-04/issue", tracker.base),
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    conforms(&spec, issue, &a, "issuing the as-of month");
    let a = send(
        "POST",
        &format!("{}/api/v1/reports/monthly/2024-4/issue", tracker.base),
        None,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    conforms(&spec, issue, &a, "issuing a malformed month");
    let one = "/api/v1/reports/monthly/{month}/issues/{issue}";
    let a = fetch(
        &format!("{}/api/v1/reports/monthly/{MONTH}/issues/9", tracker.base),
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    conforms(&spec, one, &a, "an absent issue");
    for p in paths.iter().filter(|p| spec.method(p) == "GET") {
        let a = fetch(&format!("{}{}", tracker.base, concrete(p)), None).await;
        assert_ne!(a.status, 404, "GET {p} is served");
        assert_eq!(a.status, 200, "GET {p}: {}", a.body);
        conforms(&spec, p, &a, &format!("GET {p}"));
    }

    // The month with data.
    let months = "/api/v1/months/{month}";
    let report = spec.component("MonthReport");
    let a = fetch(&format!("{}/api/v1/months/{MONTH}", tracker.base), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    conforms(&spec, months, &a, "March 2024");
    let march = json_body(&a, "March 2024");
    assert_valid(&report, &march, "March 2024");
    assert_eq!(march["month"], MONTH);
    assert_eq!(march["lpas"].as_array().unwrap().len(), 7);
    assert!(
        march["lpas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["revision"]["issue"] == 1),
        "every LPA is compared with the issue"
    );
    assert!(
        march["summary"]["rostered_hours"].as_f64().unwrap() > 0.0
            && march["summary"]["abstracted_hours"].as_f64().unwrap() > 0.0,
        "the simulated month has figures: {}",
        march["summary"]
    );
    assert!(
        march["lpas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["rag"].is_string() && l["abstraction_ratio"].is_number()),
        "non-null ratios and RAG are exercised"
    );

    // A month without any data: every LPA, zeros and nulls, still valid.
    let a = fetch(&format!("{}/api/v1/months/2023-01", tracker.base), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    conforms(&spec, months, &a, "January 2023");
    let empty = json_body(&a, "January 2023");
    assert_valid(&report, &empty, "January 2023");
    assert_eq!(empty["lpas"].as_array().unwrap().len(), 7);
    for l in empty["lpas"].as_array().unwrap() {
        assert_eq!(l["rostered_hours"], 0.0, "{l}");
        assert!(
            l["abstraction_ratio"].is_null() && l["rag"].is_null(),
            "{l}"
        );
    }
    assert!(empty["summary"]["abstraction_ratio"].is_null());

    // The JSON report is the same document.
    let reports = "/api/v1/reports/monthly/{month}";
    let a = fetch(
        &format!(
            "{}/api/v1/reports/monthly/{MONTH}?format=json",
            tracker.base
        ),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        conforms(&spec, reports, &a, "JSON report"),
        "application/json"
    );
    let json_report = json_body(&a, "JSON report");
    assert_valid(&report, &json_report, "JSON report");
    assert_eq!(json_report, march, "the JSON report is /api/v1/months");

    // 400s: bad months and a bad format, with the documented error body.
    for (path, url) in [
        (months, "/api/v1/months/2024-13".to_string()),
        (months, "/api/v1/months/march".to_string()),
        (months, "/api/v1/months/1999-12".to_string()),
        (
            reports,
            format!("/api/v1/reports/monthly/{MONTH}?format=pdf"),
        ),
        (
            reports,
            "/api/v1/reports/monthly/2024-3?format=csv".to_string(),
        ),
    ] {
        let a = fetch(&format!("{}{url}", tracker.base), None).await;
        assert_eq!(a.status, 400, "GET {url}: {}", a.body);
        conforms(&spec, path, &a, &format!("GET {url}"));
        let e = json_body(&a, &url);
        assert!(
            !e["error"].as_str().unwrap().is_empty(),
            "GET {url}: error says why"
        );
    }

    // Every format of the spec's enum: the content type served is the one the spec
    // lists for it, one distinct type per format; no format = the spec's default.
    let param = spec.format_param();
    let formats: Vec<&str> = param["schema"]["enum"]
        .as_array()
        .expect("format enum")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let essence = BTreeMap::from([
        ("md", "text/markdown"),
        ("html", "text/html"),
        ("csv", "text/csv"),
        ("json", "application/json"),
    ]);
    let mut served = BTreeMap::new();
    for f in &formats {
        let url = format!("{}/api/v1/reports/monthly/{MONTH}?format={f}", tracker.base);
        let a = fetch(&url, None).await;
        assert_eq!(a.status, 200, "format={f}: {}", a.body);
        let ct = conforms(&spec, reports, &a, &format!("format={f}"));
        assert_eq!(
            ct.split(';').next().unwrap().trim(),
            essence[f],
            "format={f} is served as {ct}"
        );
        assert!(!a.body.is_empty(), "format={f} has a body");
        served.insert(f.to_string(), ct);
    }
    assert_eq!(
        served.values().collect::<BTreeSet<_>>().len(),
        formats.len(),
        "one content type per format: {served:?}"
    );
    assert_eq!(
        served.values().cloned().collect::<BTreeSet<_>>(),
        spec.response(reports, 200).unwrap()["content"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        "the spec lists exactly the content types served"
    );
    let default = param["schema"]["default"]
        .as_str()
        .expect("a default format");
    let a = fetch(
        &format!("{}/api/v1/reports/monthly/{MONTH}", tracker.base),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, served[default], "no format = {default}");
    let csv = fetch(
        &format!("{}/api/v1/reports/monthly/{MONTH}?format=csv", tracker.base),
        None,
    )
    .await;
    assert!(
        csv.body
            .starts_with("month,lpa,lpa_name,measure,key,value\n"),
        "the CSV columns the spec describes"
    );

    // The evidence paths (contract v3 section 12): both formats, every LPA, and the
    // documented refusals.
    for p in [
        "/api/v1/lpas/{lpa}/months/{month}/abstractions",
        "/api/v1/lpas/{lpa}/months/{month}/shifts",
        "/api/v1/lpas/{lpa}/abstractions/open",
    ] {
        let mut entries = 0;
        for lpa in Reference::west_midlands().lpas {
            let url = format!(
                "{}{}",
                tracker.base,
                p.replace("{month}", MONTH).replace("{lpa}", &lpa.code)
            );
            let a = fetch(&url, None).await;
            assert_eq!(a.status, 200, "GET {url}: {}", a.body);
            assert_eq!(conforms(&spec, p, &a, &url), "application/json");
            let v = json_body(&a, &url);
            entries += v["abstractions"]
                .as_array()
                .or(v["shifts"].as_array())
                .unwrap()
                .len();
            let a = fetch(&format!("{url}?format=csv"), None).await;
            assert_eq!(a.status, 200, "GET {url}?format=csv: {}", a.body);
            assert_eq!(conforms(&spec, p, &a, &url), "text/csv; charset=utf-8");
        }
        assert!(
            entries > 0,
            "{p}: the simulated month has entries to validate"
        );
        let not_owned = concrete(p).replace("dudley", "atlantis");
        let a = fetch(&format!("{}{not_owned}", tracker.base), None).await;
        assert_eq!(a.status, 404, "GET {not_owned}: {}", a.body);
        conforms(&spec, p, &a, &not_owned);
        let a = fetch(&format!("{}{}?format=pdf", tracker.base, concrete(p)), None).await;
        assert_eq!(a.status, 400, "{}", a.body);
        conforms(&spec, p, &a, "format=pdf");
    }

    tracker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_guards_exactly_the_operations_the_spec_says() {
    let spec = Spec::load();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve::run(
        ServeConfig {
            nats_url: nats.url(),
            nats_auth: Default::default(),
            data_dir: data.path().into(),
            engine: None,
            recover: false,
            reference: Reference::west_midlands(),
            ingest: IngestConfig::default(),
            lpas: None,
            api_token: Some("s3cret-token".into()),
            clock: Clock::AsOf(TEST_AS_OF.parse().unwrap()),
            tuning: Default::default(),
        },
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let ready = format!("{base}/readyz");
    wait_for(Duration::from_secs(20), "tracker ready", || {
        let url = ready.clone();
        async move { get(&url).await.0 == 200 }
    })
    .await;

    let bearer = spec.doc["components"]["securitySchemes"]["bearerAuth"].clone();
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");

    let paths: Vec<String> = spec.doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // Issue 1 exists, for `…/issues/1`.
    let issue = format!("{base}/api/v1/reports/monthly/{MONTH}/issue");
    assert_eq!(send("POST", &issue, Some("s3cret-token")).await.status, 200);
    let mut guarded = 0;
    for p in &paths {
        let url = format!("{base}{}", concrete(p));
        let security = spec.security(p);
        let needs_token = security.iter().any(|r| r.get("bearerAuth").is_some());
        let fetch = |url: String, token: Option<&'static str>| send(spec.method(p), url, token);
        let anonymous = fetch(url.clone(), None).await;
        if needs_token {
            guarded += 1;
            assert!(
                security.iter().any(|r| r.as_object().unwrap().is_empty()),
                "{p}: the token is optional (only when configured), so `{{}}` is listed too"
            );
            assert_eq!(anonymous.status, 401, "GET {p} without a token");
            conforms(&spec, p, &anonymous, &format!("GET {p} without a token"));
            assert_eq!(anonymous.www_authenticate.as_deref(), Some("Bearer"));
            let wrong = fetch(url.clone(), Some("not-the-token")).await;
            assert_eq!(wrong.status, 401, "GET {p} with a wrong token");
            conforms(&spec, p, &wrong, &format!("GET {p} with a wrong token"));
            let right = fetch(url.clone(), Some("s3cret-token")).await;
            assert_eq!(right.status, 200, "GET {p} with the token: {}", right.body);
            conforms(&spec, p, &right, &format!("GET {p} with the token"));
        } else {
            assert!(
                spec.response(p, 401).is_none(),
                "{p}: 401 documented on an open path"
            );
            assert_eq!(
                anonymous.status, 200,
                "GET {p} needs no token: {}",
                anonymous.body
            );
            conforms(&spec, p, &anonymous, &format!("GET {p}"));
        }
    }
    assert_eq!(guarded, 8, "every /api path is guarded");

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

/// Object schemas with fixed fields: `additionalProperties: false`, every property
/// required and described.
#[test]
fn object_schemas_are_closed_complete_and_described() {
    let spec = Spec::load();
    for name in [
        "MonthReport",
        "ForceSummary",
        "LpaReport",
        "SectorReport",
        "TrendPoint",
        "DataQuality",
        "Error",
        "EvidenceEvent",
        "AbstractionEvidence",
        "OpenAbstractionEvidence",
        "ShiftEvidence",
        "AbstractionList",
        "OpenAbstractionList",
        "ShiftList",
        "Revision",
        "Issue",
        "IssueList",
    ] {
        let s = &spec.schemas()[name];
        assert_eq!(s["type"], "object", "{name}");
        assert_eq!(s["additionalProperties"], false, "{name} is closed");
        assert!(s["description"].is_string(), "{name} is described");
        let props: BTreeSet<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let required: BTreeSet<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(props, required, "{name}: required lists every field");
        for (field, p) in s["properties"].as_object().unwrap() {
            assert!(
                p["description"].as_str().is_some_and(|d| d.len() > 10),
                "{name}.{field} has a description"
            );
        }
    }
    // Every `$ref` of the document resolves.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(s)) => out.push(s),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec.doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        spec.resolve(&json!({ "$ref": r }));
    }
}

fn enum_of(v: &Value) -> BTreeSet<String> {
    v["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("an enum: {v}"))
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// The spec's enums are the code's: rejection codes, roles, scopes, report formats and
/// the content type of each format.
#[test]
fn the_spec_enums_are_the_codes_enums() {
    let spec = Spec::load();
    let s = spec.schemas();
    assert_eq!(
        enum_of(&s["DataQuality"]["properties"]["rejected_events"]["propertyNames"]),
        RejectCode::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    );
    assert_eq!(
        enum_of(&s["LpaReport"]["properties"]["abstracted_hours_by_role"]["propertyNames"]),
        Role::ALL.iter().map(|r| r.as_str().to_string()).collect()
    );
    assert_eq!(
        enum_of(&s["LpaReport"]["properties"]["abstracted_hours_by_scope"]["propertyNames"]),
        Scope::ALL.iter().map(|r| r.as_str().to_string()).collect()
    );
    assert_eq!(
        enum_of(&s["LpaReport"]["properties"]["officers_abstracted_at_least"]["propertyNames"]),
        abstraction_tracker::domain::report::REPEAT_THRESHOLDS
            .iter()
            .map(|n| format!("{n}+"))
            .collect()
    );
    assert_eq!(
        enum_of(&s["LpaReport"]["properties"]["rag"]),
        ["green", "amber", "red"].map(String::from).into()
    );
    let reports = "/api/v1/reports/monthly/{month}";
    let content: BTreeSet<String> = spec.response(reports, 200).unwrap()["content"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let formats = enum_of(&spec.format_param()["schema"]);
    assert_eq!(formats.len(), 4);
    let mut types = BTreeSet::new();
    for f in &formats {
        let fmt = Format::parse(f).unwrap_or_else(|| panic!("the server accepts format {f}"));
        assert!(
            content.contains(fmt.content_type()),
            "{f} is served as {} which the spec does not list",
            fmt.content_type()
        );
        types.insert(fmt.content_type().to_string());
    }
    assert_eq!(types, content);
    assert_eq!(
        spec.response(reports, 200).unwrap()["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/MonthReport"
    );
}

const H: i64 = 3_600_000;

fn cell(
    month: Month,
    sector: &str,
    reason: &str,
    role: Role,
    scope: Scope,
    planned: bool,
    hours: i64,
) -> AbstractedCell {
    AbstractedCell {
        month,
        day: abstraction_tracker::domain::calendar::first_day(month),
        sector: sector.into(),
        key: AbstractionKey {
            reason: reason.into(),
            role,
            scope,
            planned,
        },
        ms: hours * H,
        count: 1,
    }
}

/// A report built to exercise every branch of the serialisation (all RAG colours,
/// suppressed and unsuppressed counts, an unknown sector, rejections, changes against
/// earlier months) validates; and the schema is strict: drift of any kind fails.
#[test]
fn a_report_exercising_every_branch_validates_and_drift_does_not() {
    let spec = Spec::load();
    let reference = Reference::west_midlands();
    let m = Month::new(2024, 3);
    let lpa_month = |rostered_h: i64, counted_h: i64, reason: &str| {
        let mut lm = LpaMonth::default();
        lm.add_rostered(Role::Pc, rostered_h * H, 10);
        lm.add_rostered(Role::Pcso, 7 * H, 1);
        for (i, scope) in Scope::ALL.into_iter().enumerate() {
            lm.add_abstracted(
                &cell(m, "x", reason, Role::ALL[i], scope, i % 2 == 0, counted_h),
                1,
            );
        }
        lm.add_abstracted(&cell(m, "x", "training", Role::Pc, Scope::Lpa, true, 3), 1);
        lm
    };
    let mut sector = SectorMonth::default();
    sector.add_rostered(40 * H, 4);
    sector.add_abstracted("response_cover", 9 * H, 6);
    let mut few = SectorMonth::default();
    few.add_rostered(16 * H, 2);
    few.add_abstracted("hospital_watch", 2 * H, 2);
    let mut unknown = SectorMonth::default();
    unknown.add_rostered(8 * H, 1);
    let mut this = lpa_month(100, 3, "response_cover");
    this.open = 2;
    let inputs = vec![
        LpaInputs {
            days: None,
            lpa: "dudley".into(),
            this: this.clone(),
            prev: lpa_month(100, 2, "court"),
            year_ago: lpa_month(50, 1, "hospital_watch"),
            sectors: vec![
                ("dudley-town".into(), sector),
                ("dudley-atlantis".into(), unknown),
                ("dudley-sedgley".into(), few),
            ],
            officer_counts: vec![1, 1, 1, 1, 1, 2, 3, 4, 12],
            trend: std::iter::successors(Some(Month::new(2023, 3)), |m| Some(m.next()))
                .take(13)
                .map(|mo| (mo, this.clone()))
                .collect(),
        },
        LpaInputs {
            lpa: "walsall".into(),
            this: lpa_month(100, 8, "mutual_aid"),
            officer_counts: vec![2, 2],
            ..Default::default()
        },
        LpaInputs {
            lpa: "coventry".into(),
            this: lpa_month(100, 40, "public_order"),
            ..Default::default()
        },
    ];
    let rejected = vec![
        ("schema_violation".to_string(), 3),
        ("unknown_lpa".to_string(), 1),
    ];
    let rep = month_report(&reference, m, &inputs, &rejected);
    let doc = serde_json::to_value(&rep).unwrap();
    let v = spec.component("MonthReport");
    assert_valid(&v, &doc, "built report");

    // The built report really covers the branches.
    let rags: BTreeSet<String> = doc["lpas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rag"].to_string())
        .collect();
    assert_eq!(rags.len(), 4, "green, amber, red and null: {rags:?}");
    let d = lpa(&doc, "dudley");
    assert!(d["change_vs_previous_month"].is_number());
    assert!(d["change_vs_year_earlier"].is_number());
    assert!(d["officers_abstracted_at_least"]["3+"].is_null());
    assert!(d["officers_abstracted_at_least"]["1+"].is_number());
    let sectors = d["sectors"].as_array().unwrap();
    assert!(sectors.iter().any(|s| s["abstractions"].is_null()));
    assert!(sectors.iter().any(|s| s["abstractions"].as_i64() > Some(0)));
    assert!(d["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"].is_null() && s["known"] == false));
    assert!(!doc["data_quality"]["unknown_sectors"]
        .as_object()
        .unwrap()
        .is_empty());

    // Drift: each of these mutations must be refused by the spec.
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 10] = [
        ("extra top-level field", |d| {
            d["extra"] = json!(1);
        }),
        ("missing summary", |d| {
            d.as_object_mut().unwrap().remove("summary");
        }),
        ("extra LPA field", |d| {
            d["lpas"][0]["officer_ids"] = json!([]);
        }),
        ("missing LPA field", |d| {
            d["lpas"][0].as_object_mut().unwrap().remove("rag");
        }),
        ("bad RAG", |d| {
            d["lpas"][0]["rag"] = json!("purple");
        }),
        ("ratio as a string", |d| {
            d["lpas"][0]["abstraction_ratio"] = json!("7%");
        }),
        ("hours null", |d| {
            d["lpas"][0]["rostered_hours"] = Value::Null;
        }),
        ("bad month", |d| {
            d["month"] = json!("March 2024");
        }),
        ("unknown rejection code", |d| {
            d["data_quality"]["rejected_events"]["lost"] = json!(1);
        }),
        ("extra sector field", |d| {
            d["lpas"][0]["sectors"] = json!([{ "sector": "a", "name": null, "known": false,
                "rostered_hours": 1.0, "abstracted_hours": 0.0, "abstraction_ratio": 0.0,
                "abstractions": null, "officer": "x" }]);
        }),
    ];
    for (what, mutate) in mutations {
        let mut d = doc.clone();
        mutate(&mut d);
        assert!(!errors(&v, &d).is_empty(), "the spec accepts: {what}");
    }

    let err = spec.component("Error");
    assert_valid(&err, &json!({"error": "x"}), "error body");
    assert!(!errors(&err, &json!({"error": "x", "trace": "y"})).is_empty());
    assert!(!errors(&err, &json!({})).is_empty());
}

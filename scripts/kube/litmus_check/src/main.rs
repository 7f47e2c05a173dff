//! ChaosResult is written by the operator, never by us: not checked.
//! Reads a JSON array of Kubernetes objects on stdin; prints one JSON line per problem:
//! {"index": <position in the array>, "path": "spec.experiments[0].name", "message": "..."}.
//! A field the Litmus types do not declare is a problem (the API server would prune it), as are a wrong type,
//! a missing required field and a value outside an enum; status is the controller's and is not checked.

use kcr_litmuschaos_io::v1alpha1::{chaosengines::ChaosEngine, chaosexperiments::ChaosExperiment};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::io::Read;

fn check<T: DeserializeOwned>(object: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let text = object.to_string();
    let mut json_de = serde_json::Deserializer::from_str(&text);
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let ignored = serde_ignored::Deserializer::new(&mut json_de, &mut record);
    if let Err(error) = serde_path_to_error::deserialize::<_, T>(ignored) {
        problems.push((error.path().to_string(), error.inner().to_string()));
    }
    for path in unknown {
        // The root's apiVersion and kind are read by the caller's lookup, not by the generated struct.
        if path != "apiVersion" && path != "kind" && !path.starts_with("status") {
            problems.push((path, "unknown field (not in the schema)".to_string()));
        }
    }
    problems
}

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    let objects: Vec<Value> = serde_json::from_str(&input).expect("a JSON array of objects on stdin");
    for (index, object) in objects.iter().enumerate() {
        let problems = match (object["apiVersion"].as_str(), object["kind"].as_str()) {
            (Some("litmuschaos.io/v1alpha1"), Some("ChaosEngine")) => check::<ChaosEngine>(object),
            (Some("litmuschaos.io/v1alpha1"), Some("ChaosExperiment")) => check::<ChaosExperiment>(object),
            (api_version, kind) => vec![(String::new(), format!("not a Litmus kind: {:?} {:?}", api_version, kind))],
        };
        for (path, message) in problems {
            let path = if path == "." { String::new() } else { path };
            println!("{}", json!({"index": index, "path": path, "message": message}));
        }
    }
}

//! Deep merge of JSON values, the way Keptn merges event payloads.

use serde_json::Value;

/// Merges `source` into `target`: when both are objects, keys are merged recursively; otherwise
/// `source` replaces `target`. `null` in `source` replaces too (it is a value like any other).
///
/// This is the merge the shipyard-controller applies when it builds a task's `.triggered` data
/// from the sequence trigger, the previous tasks' `.finished` data and the task's properties.
pub fn merge_json(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(t), Value::Object(s)) => {
            for (key, value) in s {
                match t.get_mut(key) {
                    Some(existing) => merge_json(existing, value),
                    None => {
                        t.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, source) => *target = source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_recursively_and_scalars_replace() {
        let mut a = json!({"project": "p", "deployment": {"a": 1, "b": [1]}, "keep": true});
        merge_json(
            &mut a,
            &json!({"deployment": {"b": [2], "c": "x"}, "project": "q"}),
        );
        assert_eq!(
            a,
            json!({"project": "q", "deployment": {"a": 1, "b": [2], "c": "x"}, "keep": true})
        );
    }

    #[test]
    fn non_object_target_is_replaced() {
        let mut a = json!("text");
        merge_json(&mut a, &json!({"x": 1}));
        assert_eq!(a, json!({"x": 1}));
    }
}

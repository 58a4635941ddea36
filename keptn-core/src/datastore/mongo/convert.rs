//! Between Keptn events (JSON) and MongoDB documents, in the original datastore's shape.

use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnEvent;
use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

use crate::datastore::record::{EventRecord, strip_event_context};
use crate::datastore::{StoreError, StoreErrorKind};

/// Event times are stored as strings, as the original stored them, but always with nine
/// fraction digits so that string order is time order.
pub(super) fn time_string(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The document of an event: its JSON with `_id` = the event id and the fixed-width time.
pub(super) fn event_document(
    record: &EventRecord,
    time: &DateTime<Utc>,
) -> Result<Document, StoreError> {
    let value: Value = serde_json::from_str(&record.json).map_err(|e| {
        StoreError::with_source(
            StoreErrorKind::InvalidEvent,
            format!("event {} cannot be converted to a document", record.id),
            e,
        )
    })?;
    let Value::Object(map) = value else {
        return Err(StoreError::invalid_event(format!(
            "event {} is not a JSON object",
            record.id
        )));
    };
    let mut doc = Document::new();
    doc.insert("_id", record.id.clone());
    for (key, value) in map {
        if key == "time" {
            doc.insert("time", time_string(time));
        } else {
            doc.insert(key, json_to_bson(value));
        }
    }
    Ok(doc)
}

/// Reads an event back from a document (written by this store or by the original datastore).
pub(super) fn document_event(mut doc: Document) -> Result<KeptnEvent, StoreError> {
    doc.remove("_id");
    let mut value = bson_to_json(Bson::Document(doc));
    strip_event_context(&mut value);
    serde_json::from_value(value)
        .map_err(|e| StoreError::corrupt("a stored document is not a Keptn event", e))
}

/// JSON to BSON without MongoDB's extended-JSON interpretation: `{"$oid": ...}` in event data
/// stays a plain document.
pub(super) fn json_to_bson(value: Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Bson::Int64(i),
            (None, Some(f)) => Bson::Double(f),
            (None, None) => Bson::String(n.to_string()),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(items.into_iter().map(json_to_bson).collect()),
        Value::Object(map) => {
            let mut doc = Document::new();
            for (k, v) in map {
                doc.insert(k, json_to_bson(v));
            }
            Bson::Document(doc)
        }
    }
}

/// BSON to JSON. The original stored every JSON number as a double; those come back as JSON
/// floats.
pub(super) fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Document(doc) => {
            let mut map = Map::new();
            for (k, v) in doc {
                map.insert(k, bson_to_json(v));
            }
            Value::Object(map)
        }
        Bson::DateTime(dt) => dt
            .try_to_rfc3339_string()
            .map_or(Value::Null, Value::String),
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        other => other.into_relaxed_extjson(),
    }
}

/// The event-store kind of a driver error.
pub(super) fn mongo_error(message: impl Into<String>, err: mongodb::error::Error) -> StoreError {
    use mongodb::error::ErrorKind;
    let kind = match err.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => StoreErrorKind::Unavailable,
        ErrorKind::BsonDeserialization(_) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Backend,
    };
    StoreError::with_source(kind, message, err)
}

/// MongoDB's duplicate key error.
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// The batch indexes that failed with a duplicate key, or the error when anything else failed.
pub(super) fn duplicate_indexes(
    err: mongodb::error::Error,
) -> Result<Vec<usize>, mongodb::error::Error> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match err.kind.as_ref() {
        ErrorKind::InsertMany(failure)
            if failure.write_concern_error.is_none()
                && failure
                    .write_errors
                    .as_ref()
                    .is_some_and(|errors| errors.iter().all(|e| e.code == DUPLICATE_KEY)) =>
        {
            Ok(failure
                .write_errors
                .as_ref()
                .map(|errors| errors.iter().map(|e| e.index).collect())
                .unwrap_or_default())
        }
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY => Ok(vec![0]),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn json_survives_the_trip_through_bson() {
        let value = json!({"a": 1, "b": 2.5, "c": [true, null, "x"], "d": {"$oid": "not-special"}});
        assert_eq!(bson_to_json(json_to_bson(value.clone())), value);
    }

    #[test]
    fn time_strings_sort_like_times() {
        let a = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = a + chrono::Duration::milliseconds(260);
        assert_eq!(time_string(&a), "2024-01-01T00:00:00.000000000Z");
        assert!(time_string(&a) < time_string(&b) && time_string(&b) < time_string(&c));
    }
}

//! Canonical JSON as TUF signs it (securesystemslib's `encode_canonical`,
//! OLPC canonical JSON): object keys sorted by code point, no whitespace,
//! strings with only `"` and `\` escaped, integers only.

use serde_json::Value;

/// Encodes `v` canonically; floats are refused (TUF metadata has none, and
/// their encoding is not canonical).
pub fn encode(v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(1024);
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(format!("the number {n} is not an integer"));
            }
        }
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out)?;
            }
            out.push(b']');
        }
        Value::Object(m) => {
            // Sorted explicitly: serde_json's map keeps insertion order
            // when another crate turns on `preserve_order`. UTF-8 byte
            // order is code point order, as Python's sort.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                write(&m[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_escapes_only_quote_and_backslash() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": [true, null, "x\"y\\z\n"], "é": -2}"#).unwrap();
        assert_eq!(
            String::from_utf8(encode(&v).unwrap()).unwrap(),
            "{\"a\":[true,null,\"x\\\"y\\\\z\n\"],\"b\":1,\"é\":-2}"
        );
    }

    #[test]
    fn refuses_floats() {
        let v: Value = serde_json::from_str(r#"{"a": 1.5}"#).unwrap();
        assert!(encode(&v).is_err());
    }
}

//! The store's copy of the issued reports (contract v3 section 13): `serve` copies each
//! issue it sees in the `NEIGHBOURHOOD_ISSUES` bucket here, so `report --data-dir` and
//! `explain --data-dir` can compare with them while the broker is out of reach. Meta,
//! not derived from the log: a rebuild keeps them.

use super::keys;
use super::kv::decode_json;
use super::{Store, StoreError};
use crate::domain::calendar::Month;
use crate::domain::issue::Issue;

impl Store {
    /// Keeps a copy of `issue` (durable before it returns); an issue is never changed,
    /// so writing one already held changes nothing.
    pub fn put_issue(&self, issue: &Issue) -> Result<(), StoreError> {
        let key = keys::issue_key(issue.month, issue.issue);
        if self.get(&key)?.is_some() {
            return Ok(());
        }
        let value = serde_json::to_vec(issue).expect("an issue serialises");
        self.put(&key, &value)?;
        self.flush()
    }

    /// The copies of `month`'s issues, by number.
    pub fn issues(&self, month: Month) -> Result<Vec<Issue>, StoreError> {
        let mut out = Vec::new();
        for kv in self.scan(&keys::issue_prefix(month)) {
            let (k, v) = kv?;
            out.push(decode_json(&k, &v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EngineKind;

    #[test]
    fn issues_are_kept_by_month_and_number_on_every_engine() {
        let m = Month::new(2024, 3);
        let issue = |n: u64, month: Month| Issue {
            month,
            issue: n,
            issued_at: "2024-04-02T09:00:00Z".into(),
            lpas: vec![serde_json::json!({"lpa": "dudley", "stream_sequence": n})],
        };
        for engine in EngineKind::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            assert!(store.issues(m).unwrap().is_empty());
            for n in [10, 2, 1] {
                store.put_issue(&issue(n, m)).unwrap();
            }
            store.put_issue(&issue(1, m.next())).unwrap();
            // A copy is never replaced.
            let mut changed = issue(2, m);
            changed.issued_at = "later".into();
            store.put_issue(&changed).unwrap();
            let got = store.issues(m).unwrap();
            assert_eq!(
                got.iter().map(|i| i.issue).collect::<Vec<_>>(),
                [1, 2, 10],
                "{engine}"
            );
            assert_eq!(got[1], issue(2, m), "{engine}");
            drop(store);
            let store = Store::open_with(dir.path(), Some(engine)).unwrap();
            assert_eq!(store.issues(m.next()).unwrap().len(), 1, "{engine}");
        }
    }
}

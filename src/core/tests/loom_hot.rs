//! Loom models of a cache's lock-free hits (`primitives::hot`) on the real table: a
//! reader racing the writer that replaces a line never takes a mix of two entries, and
//! a reader that knows of a removal never finds the removed entry.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::core::primitives::hot::Hot;

/// The hash both keys share (one line).
const HASH: u64 = 5;

/// The writer forgets "a" (task 10) and publishes "b" (task 20) in the same line while a
/// reader looks both up: each lookup finds nothing or its own key's task.
#[test]
fn loom_hot_line_never_torn() {
    loom::model(|| {
        let hot = Arc::new(Hot::default());
        hot.publish(1, HASH, b"a", 10);
        let h = hot.clone();
        let reader = thread::spawn(move || (h.lookup(1, HASH, b"a"), h.lookup(1, HASH, b"b")));
        hot.forget(HASH, 10);
        hot.publish(1, HASH, b"b", 20);
        let (a, b) = reader.join().unwrap();
        assert!(matches!(a, None | Some(10)), "{a:?}");
        assert!(matches!(b, None | Some(20)), "{b:?}");
        assert_eq!(hot.lookup(1, HASH, b"b"), Some(20));
        assert_eq!(hot.lookup(1, HASH, b"a"), None);
    });
}

/// `remove` forgets the line before it returns: a `get` that happens after it (here:
/// one that saw the remover's flag) never finds the entry.
#[test]
fn loom_hot_removal_is_seen() {
    loom::model(|| {
        let hot = Arc::new(Hot::default());
        let removed = Arc::new(AtomicBool::new(false));
        hot.publish(1, HASH, b"a", 10);
        let (h, r) = (hot.clone(), removed.clone());
        let reader = thread::spawn(move || {
            let after = r.load(Ordering::Acquire);
            let found = h.lookup(1, HASH, b"a");
            if after {
                assert_eq!(found, None, "a removed entry was found");
            } else {
                assert!(matches!(found, None | Some(10)));
            }
        });
        hot.forget(HASH, 10);
        removed.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}

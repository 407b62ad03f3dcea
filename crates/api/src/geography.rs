//! The shared, swappable atlas: requests read the current one, the reloader replaces it whole.

use std::sync::{Arc, RwLock};

use wanxiang_geo::Atlas;

/// A handle to the current atlas and the store revision it was built from.
#[derive(Clone, Default)]
pub struct AtlasHandle {
    /// The atlas and its revision. Readers clone the `Arc` and let go of the lock at once, so a
    /// rebuild never waits on a slow request and a request never sees half an atlas.
    inner: Arc<RwLock<Option<(i64, Arc<Atlas>)>>>,
}

impl AtlasHandle {
    /// The current atlas, if one was loaded.
    pub fn current(&self) -> Option<Arc<Atlas>> {
        self.inner
            .read()
            .expect("atlas lock poisoned")
            .as_ref()
            .map(|(_, a)| a.clone())
    }

    /// The revision of the current atlas, if one was loaded.
    pub fn revision(&self) -> Option<i64> {
        self.inner
            .read()
            .expect("atlas lock poisoned")
            .as_ref()
            .map(|(r, _)| *r)
    }

    /// Replaces the atlas.
    pub fn replace(&self, revision: i64, atlas: Atlas) {
        *self.inner.write().expect("atlas lock poisoned") = Some((revision, Arc::new(atlas)));
    }
}

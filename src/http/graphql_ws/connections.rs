//! Open `/graphql/ws` connections per token: a slot is taken when a connection is acknowledged
//! and given back when it closes, however it closes (the slot's `Drop`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

#[derive(Debug, Default)]
pub struct Connections {
    /// 0: no limit.
    max_per_token: u32,
    open: Mutex<HashMap<String, u32>>,
}

/// One open connection of `token`; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    connections: Arc<Connections>,
    token: String,
}

impl Connections {
    pub fn new(max_per_token: u32) -> Self {
        Self {
            max_per_token,
            open: Mutex::default(),
        }
    }

    /// A place for one more connection of the token named `token`, or `None` when it has
    /// its maximum open already.
    pub fn open(self: &Arc<Self>, token: &str) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(token.to_owned()).or_insert(0);
        if self.max_per_token > 0 && *count >= self.max_per_token {
            return None;
        }
        *count += 1;
        Some(Slot {
            connections: Arc::clone(self),
            token: token.to_owned(),
        })
    }

    #[cfg(test)]
    fn count(&self, token: &str) -> u32 {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(token).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_maximum_and_a_closed_connection_frees_its_place() {
        let connections = Arc::new(Connections::new(2));
        let a = connections.open("dash").unwrap();
        let _b = connections.open("dash").unwrap();
        assert!(connections.open("dash").is_none());
        assert!(connections.open("other").is_some(), "per token");
        drop(a);
        assert!(connections.open("dash").is_some());
        assert_eq!(connections.count("dash"), 1);
        assert!(Arc::new(Connections::new(0)).open("x").is_some(), "0: off");
    }
}

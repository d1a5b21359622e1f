//! Wakes long-polling pulls: one dedicated PostgreSQL connection LISTENs on `carnet_sync`
//! (the change-feed triggers NOTIFY the user or event whose scope changed, at commit) and
//! fans each notification out to the waiting requests through a broadcast channel.
//!
//! A notification sent while the connection is down is lost for good: PostgreSQL keeps
//! none for a listener that is not there. So each time the listener (re)starts listening it
//! sends [`Wake::Recheck`], and every waiter looks at the change feed again: a change
//! committed during the reconnect is found there, and a waiter with nothing new keeps
//! waiting.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tokio::sync::broadcast;
use uuid::Uuid;

/// How often the listener connection is polled for notifications.
const POLL: Duration = Duration::from_millis(50);
/// How often the listener checks that its connection is alive.
const PING: Duration = Duration::from_secs(30);

/// The listener connection's `application_name`, so operators (and tests) can find it in
/// `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "carnet-sync-listener";

/// What a waiting request is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The scope of this user or event changed.
    Scope(Uuid),
    /// Notifications may have been missed (the listener just (re)connected): look at the
    /// change feed again.
    Recheck,
}

/// The fan-out of change notifications.
#[derive(Clone)]
pub struct SyncNotifier {
    sender: broadcast::Sender<Wake>,
    /// The listener thread stops once every clone of the notifier is gone.
    alive: Arc<()>,
}

impl SyncNotifier {
    /// Starts the listener thread on `database_url` (reconnecting after failures).
    pub fn start(database_url: String) -> Self {
        let (sender, _) = broadcast::channel(4096);
        let notifier = SyncNotifier {
            sender,
            alive: Arc::new(()),
        };
        let fan_out = notifier.sender.clone();
        let alive = Arc::downgrade(&notifier.alive);
        let spawned = std::thread::Builder::new()
            .name("carnet-sync-listener".into())
            .spawn(move || listen_forever(&database_url, &fan_out, &alive));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the sync listener; long polls will wait for their timeout");
        }
        notifier
    }

    /// A receiver of the notifications sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.sender.subscribe()
    }
}

fn listen_forever(database_url: &str, sender: &broadcast::Sender<Wake>, alive: &Weak<()>) {
    while alive.strong_count() > 0 {
        if let Err(error) = listen(database_url, sender, alive) {
            tracing::warn!(%error, "sync listener connection lost; reconnecting");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn listen(database_url: &str, sender: &broadcast::Sender<Wake>, alive: &Weak<()>) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(database_url)?;
    diesel::sql_query(format!("SET application_name = '{APPLICATION_NAME}'")).execute(&mut conn)?;
    crate::db::listen(&mut conn, "carnet_sync")?;
    // Listening from here on; whatever was committed before may have notified no one.
    let _ = sender.send(Wake::Recheck);
    let mut pinged = Instant::now();
    while alive.strong_count() > 0 {
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if let Ok(id) = Uuid::parse_str(&notification.payload) {
                // No receiver is fine: nobody is waiting.
                let _ = sender.send(Wake::Scope(id));
            }
        }
        if pinged.elapsed() > PING {
            crate::db::ping(&mut conn)?;
            pinged = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

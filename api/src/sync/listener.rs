//! Wakes long-polling pulls: one dedicated PostgreSQL connection LISTENs on `carnet_sync`
//! (the change-feed triggers NOTIFY the user or event whose scope changed, at commit) and
//! fans each notification out to the waiting requests through a broadcast channel.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tokio::sync::broadcast;
use uuid::Uuid;

/// How often the listener connection is polled for notifications.
const POLL: Duration = Duration::from_millis(50);
/// How often the listener checks that its connection is alive.
const PING: Duration = Duration::from_secs(30);

/// The fan-out of change notifications: each carries the user or event id that changed.
#[derive(Clone)]
pub struct SyncNotifier {
    sender: broadcast::Sender<Uuid>,
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
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.sender.subscribe()
    }
}

fn listen_forever(database_url: &str, sender: &broadcast::Sender<Uuid>, alive: &Weak<()>) {
    while alive.strong_count() > 0 {
        if let Err(error) = listen(database_url, sender, alive) {
            tracing::warn!(%error, "sync listener connection lost; reconnecting");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn listen(database_url: &str, sender: &broadcast::Sender<Uuid>, alive: &Weak<()>) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(database_url)?;
    crate::db::listen(&mut conn, "carnet_sync")?;
    let mut pinged = Instant::now();
    while alive.strong_count() > 0 {
        for notification in conn.notifications_iter() {
            let notification = notification?;
            if let Ok(id) = Uuid::parse_str(&notification.payload) {
                // No receiver is fine: nobody is waiting.
                let _ = sender.send(id);
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

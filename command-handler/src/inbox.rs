//! The front door's way in to the handler of its own process.
//!
//! A command handed over here is recorded on the commands topic by the handler's next
//! transaction and, where the handler owns its partition and has read all of it, decided in
//! that same transaction ([`crate::Handler::with_inbox`]): one commit and one sync from the
//! request to its result, where a published command waits for its own commit, then for the
//! handler's poll, then for the handler's commit. Nothing else changes: the command is on the
//! topic at its place in the partition's order, deduplicated and replayed like any other.
//! Only a log that says where records land before the commit (`LogWriter::positions_at_send`, the
//! embedded log) can take commands this way; elsewhere the front door publishes.

use event_log::OutgoingRecord;
use order_events::CommandEnvelope;
use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the handler at most; a front door that finds the inbox full
/// publishes instead.
const CAPACITY: usize = 4096;

/// Most commands the handler takes from the inbox into one transaction.
pub(crate) const BATCH_MAX: usize = 500;

/// The front door's end: hands commands to the handler.
#[derive(Clone)]
pub struct Inbox {
    sender: mpsc::Sender<Submission>,
}

/// The handler's end.
pub struct Mailbox {
    receiver: mpsc::Receiver<Submission>,
}

/// A command handed over, and who to tell once it is recorded.
pub(crate) struct Submission {
    /// The command's record, as it would have been published.
    pub record: OutgoingRecord,
    pub envelope: CommandEnvelope,
    /// Answered once the transaction that recorded the command is durable; dropped
    /// unanswered if it was not recorded.
    pub recorded: oneshot::Sender<()>,
}

/// The command was not recorded (the handler is not running, is behind by a full inbox, or
/// its transaction failed): publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTaken;

/// A connected inbox and mailbox: the front door keeps the one, the handler the other.
pub fn inbox() -> (Inbox, Mailbox) {
    let (sender, receiver) = mpsc::channel(CAPACITY);
    (Inbox { sender }, Mailbox { receiver })
}

impl Inbox {
    /// Hands `record` (the command `envelope`, encoded as it is published) to the handler
    /// and returns once a durable transaction recorded it.
    pub async fn submit(
        &self,
        record: OutgoingRecord,
        envelope: CommandEnvelope,
    ) -> Result<(), NotTaken> {
        let (recorded, answer) = oneshot::channel();
        let submission = Submission {
            record,
            envelope,
            recorded,
        };
        self.sender.try_send(submission).map_err(|_| NotTaken)?;
        answer.await.map_err(|_| NotTaken)
    }
}

impl Mailbox {
    /// The commands handed over since the last look, waiting for one if there are none;
    /// never returns once every inbox is gone.
    pub(crate) async fn next(&mut self) -> Vec<Submission> {
        let mut batch = Vec::new();
        if self.receiver.recv_many(&mut batch, BATCH_MAX).await == 0 {
            std::future::pending::<()>().await;
        }
        batch
    }

    /// The commands handed over since the last look, without waiting.
    pub(crate) fn ready(&mut self, room: usize) -> Vec<Submission> {
        let mut batch = Vec::new();
        while batch.len() < room {
            match self.receiver.try_recv() {
                Ok(submission) => batch.push(submission),
                Err(_) => break,
            }
        }
        batch
    }
}

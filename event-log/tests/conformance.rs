//! One conformance suite, run against both backends: the embedded log (always) and Kafka
//! (tansu started per test, or the broker at LEDGER_KAFKA_BOOTSTRAP).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use event_log::embedded::EmbeddedLog;
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{
    partition_for, transact, ConsumedOffsets, Consumer, ConsumerEvent, Headers, Log, LogError,
    OutgoingRecord, StoredRecord, Topic, TopicPartition, Topics, CONTENT_TYPE_JSON,
};

/// How long any wait in these tests may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

#[async_trait]
trait Backend: Send + Sync {
    /// Opens the deployment `prefix`; opening it again after dropping every handle is a restart.
    async fn open(&self, prefix: &str, partitions: u32) -> Result<Arc<dyn Log>, LogError>;
    /// Whether aborted records stay hidden from readers (tansu does not implement that).
    fn hides_aborted_records(&self) -> bool;
    /// Whether the high watermark is exact (tansu reports the last batch's base offset + 1).
    fn exact_watermarks(&self) -> bool;
}

struct Embedded {
    dir: tempfile::TempDir,
}

struct Kafka {
    broker: TestBroker,
}

#[async_trait]
impl Backend for Embedded {
    async fn open(&self, prefix: &str, partitions: u32) -> Result<Arc<dyn Log>, LogError> {
        let topics = Topics::new(prefix, partitions)?;
        Ok(Arc::new(EmbeddedLog::open(
            &self.dir.path().join(prefix),
            topics,
        )?))
    }

    fn hides_aborted_records(&self) -> bool {
        true
    }

    fn exact_watermarks(&self) -> bool {
        true
    }
}

#[async_trait]
impl Backend for Kafka {
    async fn open(&self, prefix: &str, partitions: u32) -> Result<Arc<dyn Log>, LogError> {
        let topics = Topics::new(prefix, partitions)?;
        Ok(Arc::new(
            KafkaLog::connect(self.broker.settings(), topics).await?,
        ))
    }

    /// On tansu, no; on the broker at LEDGER_KAFKA_BOOTSTRAP (Apache Kafka), yes.
    fn hides_aborted_records(&self) -> bool {
        self.broker.is_external()
    }

    fn exact_watermarks(&self) -> bool {
        self.broker.is_external()
    }
}

fn message(topic: &str, key: &str, body: &str) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_owned(),
        key: key.to_owned(),
        partition: None,
        headers: Headers::for_message(CONTENT_TYPE_JSON, "Test", 1),
        payload: body.as_bytes().to_vec(),
    }
}

fn body(record: &StoredRecord) -> String {
    String::from_utf8(record.payload.clone()).unwrap()
}

/// A consumer and what it currently owns.
struct Member {
    consumer: Box<dyn Consumer>,
    assigned: BTreeSet<TopicPartition>,
    records: Vec<StoredRecord>,
}

impl Member {
    async fn join(log: &dyn Log, group: &str) -> Member {
        Member {
            consumer: log.consumer(group, &[Topic::Commands]).await.unwrap(),
            assigned: BTreeSet::new(),
            records: Vec::new(),
        }
    }

    async fn poll_once(&mut self) -> ConsumerEvent {
        let event = self
            .consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap();
        match &event {
            ConsumerEvent::Assigned(partitions) => self.assigned.extend(partitions.iter().cloned()),
            ConsumerEvent::Revoked(partitions) => {
                for partition in partitions {
                    self.assigned.remove(partition);
                }
            }
            ConsumerEvent::Records(records) => self.records.extend(records.iter().cloned()),
            ConsumerEvent::Idle => {}
        }
        event
    }

    /// Polls until `done` holds, failing after [`PATIENCE`].
    async fn poll_until(&mut self, what: &str, done: impl Fn(&Member) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for {what}"
            );
            self.poll_once().await;
        }
    }

    /// Polls until assigned and nothing more arrives for a second.
    async fn settle(&mut self) {
        self.poll_until("an assignment", |m| !m.assigned.is_empty())
            .await;
        let mut quiet = 0;
        while quiet < 5 {
            quiet = match self.poll_once().await {
                ConsumerEvent::Idle => quiet + 1,
                _ => 0,
            };
        }
    }

    /// Next offsets for everything this member has read, per partition.
    fn consumed(&self) -> ConsumedOffsets {
        let mut next: BTreeMap<TopicPartition, u64> = BTreeMap::new();
        for record in &self.records {
            next.insert(record.topic_partition(), record.next_offset());
        }
        ConsumedOffsets {
            group: self.consumer.group().unwrap(),
            offsets: next.into_iter().collect(),
        }
    }
}

async fn keys_land_on_their_partition_in_order(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("order"), 4).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let mut producer = log.producer("order-test").await.unwrap();
    let records: Vec<OutgoingRecord> = (0..5)
        .flat_map(|seq| (0..8).map(move |key| (key, seq)))
        .map(|(key, seq)| message(&commands, &format!("order-{key}"), &format!("{key}:{seq}")))
        .collect();
    let positions = transact(producer.as_mut(), records.clone(), None)
        .await
        .unwrap();
    assert_eq!(positions.len(), 40);
    for (record, position) in records.iter().zip(&positions) {
        assert_eq!(
            position.partition,
            partition_for(record.key.as_bytes(), 4),
            "{}",
            record.key
        );
    }
    let mut seen = BTreeMap::<String, Vec<u32>>::new();
    for partition in 0..4 {
        for record in log
            .read(&TopicPartition::new(&commands, partition), 0, 1000)
            .await
            .unwrap()
        {
            let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
            assert_eq!(record.partition, partition_for(key.as_bytes(), 4));
            let (_, seq) = body(&record)
                .split_once(':')
                .map(|(k, s)| (k.to_owned(), s.parse::<u32>().unwrap()))
                .unwrap();
            seen.entry(key).or_default().push(seq);
        }
    }
    assert_eq!(seen.len(), 8);
    for (key, seqs) in seen {
        assert_eq!(seqs, vec![0, 1, 2, 3, 4], "{key} out of order");
    }
}

async fn a_committed_transaction_shows_records_and_offsets_together(backend: &dyn Backend) {
    let prefix = unique_prefix("commit");
    let log = backend.open(&prefix, 2).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let events = log.topics().name(Topic::Events);
    let published: Vec<OutgoingRecord> = (0..6)
        .map(|i| message(&commands, &format!("k{i}"), &format!("c{i}")))
        .collect();
    log.publish(published).await.unwrap();

    let mut member = Member::join(log.as_ref(), "handler").await;
    member
        .poll_until("six commands", |m| m.records.len() == 6)
        .await;
    let outputs = member
        .records
        .iter()
        .map(|r| {
            message(
                &events,
                &String::from_utf8(r.key.clone().unwrap()).unwrap(),
                &format!("e-{}", body(r)),
            )
        })
        .collect();
    let mut producer = log.producer("handler-0").await.unwrap();
    transact(producer.as_mut(), outputs, Some(member.consumed()))
        .await
        .unwrap();
    let mut written = 0;
    for partition in 0..2 {
        written += log
            .read(&TopicPartition::new(&events, partition), 0, 100)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(written, 6);
    // Transaction markers take offsets too, so the end is at least the record count.
    assert!(
        log.end_offsets(Topic::Events)
            .await
            .unwrap()
            .iter()
            .sum::<u64>()
            >= 6
    );
    // The group's committed offsets are readable from outside: the six commands consumed.
    assert_eq!(
        log.committed_offsets("handler", Topic::Commands)
            .await
            .unwrap()
            .iter()
            .sum::<u64>(),
        6
    );
    assert_eq!(
        log.committed_offsets("nobody", Topic::Commands)
            .await
            .unwrap(),
        vec![0, 0]
    );
    drop(member);

    // The group resumes after the committed offsets: nothing is delivered twice.
    let mut next = Member::join(log.as_ref(), "handler").await;
    next.settle().await;
    assert!(
        next.records.is_empty(),
        "redelivered: {:?}",
        next.records.iter().map(body).collect::<Vec<_>>()
    );
    log.publish(vec![message(&commands, "k9", "c9")])
        .await
        .unwrap();
    next.poll_until("the new command", |m| !m.records.is_empty())
        .await;
    assert_eq!(
        next.records.iter().map(body).collect::<Vec<_>>(),
        vec!["c9"]
    );
}

async fn an_aborted_transaction_commits_no_offsets(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("abort"), 1).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let events = log.topics().name(Topic::Events);
    log.publish(vec![message(&commands, "k", "c0")])
        .await
        .unwrap();
    let mut member = Member::join(log.as_ref(), "g").await;
    member
        .poll_until("the command", |m| m.records.len() == 1)
        .await;
    let mut producer = log.producer("p").await.unwrap();
    producer.begin().await.unwrap();
    producer.send(message(&events, "k", "never")).await.unwrap();
    producer.send_offsets(member.consumed()).await.unwrap();
    producer.abort().await.unwrap();
    assert_eq!(
        log.committed_offsets("g", Topic::Commands).await.unwrap(),
        vec![0]
    );
    if backend.hides_aborted_records() {
        // Kafka keeps aborted records and a marker in the log, hidden: only the read is checked.
        assert!(log
            .read(&TopicPartition::new(&events, 0), 0, 10)
            .await
            .unwrap()
            .is_empty());
    }
    drop(member);
    let mut again = Member::join(log.as_ref(), "g").await;
    again
        .poll_until("the command again", |m| m.records.len() == 1)
        .await;
    assert_eq!(body(&again.records[0]), "c0");
}

async fn reading_resumes_from_committed_offsets_after_a_restart(backend: &dyn Backend) {
    let prefix = unique_prefix("restart");
    {
        let log = backend.open(&prefix, 1).await.unwrap();
        let commands = log.topics().name(Topic::Commands);
        let records = (0..10)
            .map(|i| message(&commands, "one-key", &format!("c{i}")))
            .collect();
        log.publish(records).await.unwrap();
        let mut member = Member::join(log.as_ref(), "g").await;
        member
            .poll_until("ten commands", |m| m.records.len() == 10)
            .await;
        member.records.truncate(5);
        let mut producer = log.producer("p").await.unwrap();
        transact(producer.as_mut(), Vec::new(), Some(member.consumed()))
            .await
            .unwrap();
    }
    let log = backend.open(&prefix, 1).await.unwrap();
    let mut member = Member::join(log.as_ref(), "g").await;
    member
        .poll_until("the rest", |m| m.records.len() == 5)
        .await;
    assert_eq!(body(&member.records[0]), "c5");
}

async fn two_consumers_split_the_partitions_and_a_rebalance_moves_them(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("group"), 4).await.unwrap();
    let mut first = Member::join(log.as_ref(), "g").await;
    first
        .poll_until("all four partitions", |m| m.assigned.len() == 4)
        .await;
    let mut second = Member::join(log.as_ref(), "g").await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !(first.assigned.len() == 2 && second.assigned.len() == 2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no split: {:?} / {:?}",
            first.assigned,
            second.assigned
        );
        tokio::join!(first.poll_once(), second.poll_once());
    }
    assert!(first.assigned.is_disjoint(&second.assigned));
    drop(second);
    first
        .poll_until("all four partitions again", |m| m.assigned.len() == 4)
        .await;
}

async fn a_second_producer_fences_the_first(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("fence"), 1).await.unwrap();
    let events = log.topics().name(Topic::Events);
    let mut zombie = log.producer("handler-0").await.unwrap();
    transact(zombie.as_mut(), vec![message(&events, "k", "before")], None)
        .await
        .unwrap();
    let mut successor = log.producer("handler-0").await.unwrap();
    let error = transact(zombie.as_mut(), vec![message(&events, "k", "zombie")], None)
        .await
        .unwrap_err();
    assert!(matches!(error, LogError::Fenced(_)), "{error}");
    transact(
        successor.as_mut(),
        vec![message(&events, "k", "after")],
        None,
    )
    .await
    .unwrap();
    let bodies: Vec<String> = log
        .read(&TopicPartition::new(&events, 0), 0, 10)
        .await
        .unwrap()
        .iter()
        .map(body)
        .collect();
    assert!(
        bodies.contains(&"after".to_owned()) && bodies.contains(&"before".to_owned()),
        "{bodies:?}"
    );
}

async fn end_offsets_and_range_reads(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("range"), 3).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let records = (0..10)
        .map(|i| message(&commands, "same-key", &format!("c{i}")))
        .collect();
    let positions = log.publish(records).await.unwrap();
    let partition = partition_for(b"same-key", 3);
    assert!(positions.iter().all(|p| p.partition == partition));
    let ends = log.end_offsets(Topic::Commands).await.unwrap();
    assert_eq!(ends.len(), 3);
    if backend.exact_watermarks() {
        assert_eq!(ends[partition as usize], 10);
    } else {
        // tansu reports the last batch's base offset + 1 as the high watermark.
        assert!(ends[partition as usize] >= 1, "{ends:?}");
    }
    let tp = TopicPartition::new(&commands, partition);
    let middle = log.read(&tp, 3, 4).await.unwrap();
    assert_eq!(
        middle.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert_eq!(
        middle.iter().map(body).collect::<Vec<_>>(),
        vec!["c3", "c4", "c5", "c6"]
    );
    assert!(log.read(&tp, 10, 5).await.unwrap().is_empty());
    let missing = log
        .read(&TopicPartition::new(&commands, 7), 0, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, LogError::UnknownPartition(_)),
        "{missing}"
    );
}

async fn a_wait_for_records_returns_when_records_arrive(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("wait"), 2).await.unwrap();
    let seen = log.end_offsets(Topic::Commands).await.unwrap();
    // Nothing new: the wait ends by its deadline at the latest.
    tokio::time::timeout(
        Duration::from_secs(20),
        log.wait_for_records(Topic::Commands, &seen, Duration::from_millis(100)),
    )
    .await
    .expect("the wait ends by its deadline")
    .unwrap();
    // A record published while it waits ends a long wait early.
    let waiting = {
        let (log, seen) = (log.clone(), seen.clone());
        tokio::spawn(async move {
            log.wait_for_records(Topic::Commands, &seen, Duration::from_secs(60))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let commands = log.topics().name(Topic::Commands);
    log.publish(vec![message(&commands, "k", "woken")])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the wait ended when the record arrived")
        .unwrap()
        .unwrap();
}

async fn concurrent_publishes_each_learn_where_their_records_landed(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("group"), 2).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    // Published at once, so the embedded log commits them in groups.
    let publishing: Vec<_> = (0..48)
        .map(|n| {
            let (log, commands) = (log.clone(), commands.clone());
            tokio::spawn(async move {
                let records = vec![
                    message(&commands, "same-key", &format!("p{n}-a")),
                    message(&commands, "same-key", &format!("p{n}-b")),
                ];
                (n, log.publish(records).await.unwrap())
            })
        })
        .collect();
    let partition = partition_for(b"same-key", 2);
    let tp = TopicPartition::new(&commands, partition);
    let mut offsets = BTreeSet::new();
    for task in publishing {
        let (n, positions) = task.await.unwrap();
        assert_eq!(positions.len(), 2);
        for (position, part) in positions.iter().zip(["a", "b"]) {
            let record = log.read(&tp, position.offset, 1).await.unwrap().remove(0);
            assert_eq!(body(&record), format!("p{n}-{part}"));
            assert!(
                offsets.insert(position.offset),
                "{position:?} handed out twice"
            );
        }
        assert!(
            positions[1].offset > positions[0].offset,
            "one publish, in order"
        );
    }
    assert_eq!(offsets.len(), 96);
}

async fn an_invalid_record_is_reported_and_consumption_goes_on(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("invalid"), 1).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let garbage = OutgoingRecord {
        topic: commands.clone(),
        key: "k".to_owned(),
        partition: None,
        headers: Headers::default().with("content-type", "text/csv"),
        payload: vec![0xff, 0x00, 0x13],
    };
    log.publish(vec![
        message(&commands, "k", "first"),
        garbage,
        message(&commands, "k", "last"),
    ])
    .await
    .unwrap();
    let mut member = Member::join(log.as_ref(), "g").await;
    member
        .poll_until("three records", |m| m.records.len() == 3)
        .await;
    let metas: Vec<bool> = member
        .records
        .iter()
        .map(|r| r.headers.message_meta().is_ok())
        .collect();
    assert_eq!(metas, vec![true, false, true]);
    assert_eq!(body(&member.records[2]), "last");
}

async fn positions_are_known_before_commit_and_explicit_partitions_are_kept(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("positions"), 4).await.unwrap();
    let events = log.topics().name(Topic::Events);
    let results = log.topics().name(Topic::CommandResults);
    let partition = partition_for(b"order-1", 4);
    let mut producer = log.producer("positions").await.unwrap();
    producer.begin().await.unwrap();
    producer
        .send(message(&events, "order-1", "e1"))
        .await
        .unwrap();
    producer
        .send(message(&events, "order-1", "e2"))
        .await
        .unwrap();
    let early = producer.sent_positions().await.unwrap();
    // A result keyed by command id, placed beside its command's partition.
    producer
        .send(message(&results, "command-7", "r").on_partition(partition))
        .await
        .unwrap();
    let committed = producer.commit().await.unwrap();
    assert_eq!(&committed[..2], early.as_slice());
    assert_eq!(committed[2].partition, partition);
    let stored = log
        .read(
            &TopicPartition::new(&results, partition),
            committed[2].offset,
            1,
        )
        .await
        .unwrap();
    assert_eq!(stored[0].key.as_deref(), Some(&b"command-7"[..]));
    let beyond = message(&results, "x", "y").on_partition(9);
    assert!(matches!(
        log.publish(vec![beyond]).await,
        Err(LogError::UnknownPartition(_))
    ));
}

async fn a_publish_during_a_transaction_is_committed_whatever_becomes_of_it(backend: &dyn Backend) {
    let log = backend.open(&unique_prefix("riders"), 2).await.unwrap();
    let commands = log.topics().name(Topic::Commands);
    let tp = TopicPartition::new(&commands, partition_for(b"k", 2));
    let mut producer = log.producer("riders").await.unwrap();
    let mut expected = Vec::new();
    for (round, commit) in [(0, true), (1, false), (2, true)] {
        producer.begin().await.unwrap();
        producer
            .send(message(&commands, "k", &format!("tx{round}")))
            .await
            .unwrap();
        // Published while the transaction is open: the embedded log takes it into the
        // transaction's frame at commit, or commits it on its own after an abort.
        let publishing = {
            let (log, commands) = (log.clone(), commands.clone());
            tokio::spawn(async move {
                log.publish(vec![message(&commands, "k", &format!("p{round}"))])
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        if commit {
            producer.commit().await.unwrap();
            expected.push(format!("tx{round}"));
        } else {
            producer.abort().await.unwrap();
        }
        let positions = tokio::time::timeout(PATIENCE, publishing)
            .await
            .expect("the publish is answered")
            .unwrap()
            .unwrap();
        let stored = log.read(&tp, positions[0].offset, 1).await.unwrap();
        assert_eq!(body(&stored[0]), format!("p{round}"));
        expected.push(format!("p{round}"));
    }
    let mut member = Member::join(log.as_ref(), "g").await;
    let wanted = expected.len();
    member
        .poll_until("every committed record", |m| m.records.len() >= wanted)
        .await;
    let mut seen: Vec<String> = member.records.iter().map(body).collect();
    if !backend.hides_aborted_records() {
        seen.retain(|body| body != "tx1");
    }
    // Within a round the publish may come before or after the transaction's record.
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

macro_rules! suite {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Embedded { dir: tempfile::tempdir().unwrap() };
                    super::$test(&backend).await;
                }
            )+
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::Kafka { broker: event_log::testing::TestBroker::start() };
                    super::$test(&backend).await;
                }
            )+
        }
    };
}

suite!(
    keys_land_on_their_partition_in_order,
    a_committed_transaction_shows_records_and_offsets_together,
    an_aborted_transaction_commits_no_offsets,
    reading_resumes_from_committed_offsets_after_a_restart,
    two_consumers_split_the_partitions_and_a_rebalance_moves_them,
    a_second_producer_fences_the_first,
    end_offsets_and_range_reads,
    a_wait_for_records_returns_when_records_arrive,
    concurrent_publishes_each_learn_where_their_records_landed,
    an_invalid_record_is_reported_and_consumption_goes_on,
    positions_are_known_before_commit_and_explicit_partitions_are_kept,
    a_publish_during_a_transaction_is_committed_whatever_becomes_of_it,
);

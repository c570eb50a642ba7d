//! Deployment checks at start: partition counts of commands and events must match, and an
//! embedded data directory has one owner.

use event_log::embedded::EmbeddedLog;
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{LogError, LogReader, LogWriter, Topic, Topics};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

#[tokio::test]
async fn embedded_refuses_commands_and_events_with_different_partition_counts() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("orders", 8).unwrap();
    {
        // A directory whose commands topic was made with 4 partitions by someone else.
        let db = sled::open(dir.path()).unwrap();
        let meta = db.open_tree("topics").unwrap();
        meta.insert(topics.name(Topic::Commands).as_bytes(), &4u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let error = EmbeddedLog::open(dir.path(), topics)
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            LogError::PartitionMismatch {
                commands: 4,
                events: 8
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("must be equal"), "{error}");
}

#[tokio::test]
async fn a_second_owner_of_an_embedded_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("orders", 2).unwrap();
    let first = EmbeddedLog::open(dir.path(), topics.clone()).unwrap();
    let error = EmbeddedLog::open(dir.path(), topics.clone())
        .err()
        .expect("refused");
    assert!(matches!(error, LogError::InUse { .. }), "{error}");
    assert!(error.to_string().contains("already in use"), "{error}");
    drop(first);
    let reopened = EmbeddedLog::open(dir.path(), topics).unwrap();
    assert_eq!(
        reopened.end_offsets(Topic::Events).await.unwrap(),
        vec![0, 0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_refuses_commands_and_events_with_different_partition_counts() {
    let broker = TestBroker::start();
    let prefix = unique_prefix("mismatch");
    let topics = Topics::new(&prefix, 8).unwrap();
    let admin: AdminClient<DefaultClientContext> =
        broker.settings().client_config().create().unwrap();
    let commands = topics.name(Topic::Commands);
    let created = admin
        .create_topics(
            &[NewTopic::new(&commands, 4, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{created:?}");
    let error = KafkaLog::connect(broker.settings(), topics)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            LogError::PartitionMismatch {
                commands: 4,
                events: 8
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_reader_finds_an_existing_embedded_log_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped");
    let error = EmbeddedLog::open_existing(&missing, Topics::new("orders", 2).unwrap())
        .err()
        .expect("refused");
    assert!(matches!(error, LogError::NotFound { .. }), "{error}");
    assert!(!missing.exists(), "a reader creates nothing");

    let path = dir.path().join("log");
    let written = EmbeddedLog::open(&path, Topics::new("orders", 2).unwrap()).unwrap();
    written
        .publish(vec![event_log::OutgoingRecord::new(
            written.topics().name(Topic::Events),
            "order-1",
            event_log::Headers::default(),
            b"bytes".to_vec(),
        )])
        .await
        .unwrap();
    drop(written);
    // Another deployment's prefix is not there: not created on the way.
    let error = EmbeddedLog::open_existing(&path, Topics::new("other", 2).unwrap())
        .err()
        .expect("refused");
    assert!(error.to_string().contains("topic other."), "{error}");
    // The partition counts come from the log, whatever the reader was told.
    let reader = EmbeddedLog::open_existing(&path, Topics::new("orders", 8).unwrap()).unwrap();
    assert_eq!(
        reader
            .end_offsets(Topic::Events)
            .await
            .unwrap()
            .iter()
            .sum::<u64>(),
        1
    );
    assert_eq!(reader.partitions(Topic::Events), 2);
    drop(reader);
    // Had the refused open created the other prefix's topics, this one would succeed.
    let again = EmbeddedLog::open_existing(&path, Topics::new("other", 2).unwrap());
    assert!(matches!(again, Err(LogError::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_reader_creates_no_topics() {
    let broker = TestBroker::start();
    let prefix = unique_prefix("reader");
    let topics = Topics::new(&prefix, 2).unwrap();
    let error = KafkaLog::connect_existing(broker.settings(), topics.clone())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, LogError::NotFound { .. }), "{error}");
    // Had the refused connect created the topics, this one would succeed.
    let again = KafkaLog::connect_existing(broker.settings(), topics.clone()).await;
    assert!(matches!(again, Err(LogError::NotFound { .. })));
    let writer = KafkaLog::connect(broker.settings(), topics.clone())
        .await
        .unwrap();
    assert_eq!(writer.partitions(Topic::Events), 2);
    drop(writer);
    let reader = KafkaLog::connect_existing(broker.settings(), topics)
        .await
        .unwrap();
    assert_eq!(reader.end_offsets(Topic::Events).await.unwrap(), vec![0, 0]);
}

//! The Kafka backend (rdkafka): idempotent transactional producers, read_committed consumers,
//! and exactly-once consume-transform-produce through `send_offsets_to_transaction` with the
//! consumer's group metadata (KIP-447).
//!
//! librdkafka's transactional calls block; they run on tokio's blocking pool.

mod settings;
mod side;
mod transactional;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::OnceCell;

pub use settings::KafkaSettings;
pub use side::SideTopic;

use crate::port::{Consumer, ConsumerEvent, GroupToken, LogError, LogReader, LogWriter, Producer};
use crate::record::{Headers, OutgoingRecord, Position, StoredRecord};
use crate::topic::{check_partition_counts, Topic, TopicPartition, Topics};

/// Most records one poll returns.
const POLL_BATCH_MAX: usize = 500;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Maps a client error onto the port's errors.
fn kafka_error(error: KafkaError) -> LogError {
    let code = error.rdkafka_error_code();
    let message = error.to_string();
    match code {
        Some(
            RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch,
        ) => LogError::Fenced(message),
        Some(
            RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::FencedInstanceId,
        ) => LogError::Rebalanced(message),
        _ => {
            let retriable = match &error {
                KafkaError::Transaction(inner) => {
                    !inner.is_fatal() && (inner.is_retriable() || inner.txn_requires_abort())
                }
                _ => true,
            };
            LogError::Broker { message, retriable }
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| LogError::Broker {
            message: format!("blocking task failed: {join}"),
            retriable: false,
        })?
        .map_err(kafka_error)
}

/// A deployment's topics on a Kafka cluster.
#[derive(Clone)]
pub struct KafkaLog {
    inner: Arc<Inner>,
}

struct Inner {
    settings: KafkaSettings,
    topics: Topics,
    /// Partition count of every topic, by name, as the cluster has it.
    partitions: BTreeMap<String, u32>,
    /// A plain idempotent producer for `publish`, made on first use.
    publisher: OnceCell<FutureProducer>,
    /// A group-less consumer for range reads, made on first use and reassigned per read.
    reader: Mutex<Option<BaseConsumer<ReaderContext>>>,
    /// Per consumer group, a client that only asks its coordinator for committed offsets
    /// (never joins), made on first use: `committed_offsets` is polled while settling.
    offset_readers: Mutex<HashMap<String, Arc<BaseConsumer>>>,
}

/// The range reader's context: reaching the end of a partition is how a read ends, not an
/// error worth logging.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "kafka reader error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

impl Inner {
    fn reader_config(&self) -> rdkafka::ClientConfig {
        let mut config = self.settings.client_config();
        config
            .set("group.id", "order-ledger-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            // A read ends at the partition's end: do not let the broker hold the fetch open.
            .set("fetch.wait.max.ms", "10");
        self.settings.apply_overrides(&mut config);
        config
    }
}

impl KafkaLog {
    /// Connects, creates missing topics, and checks the partition counts of existing ones.
    /// Topics that exist are only read, so a ledger without create rights works on topics an
    /// administrator made.
    pub async fn connect(settings: KafkaSettings, topics: Topics) -> Result<KafkaLog, LogError> {
        KafkaLog::connect_with(settings, topics, true).await
    }

    /// Connects as a reader: every topic must exist already (a missing one is
    /// [`LogError::NotFound`]); nothing is created or written.
    pub async fn connect_existing(
        settings: KafkaSettings,
        topics: Topics,
    ) -> Result<KafkaLog, LogError> {
        KafkaLog::connect_with(settings, topics, false).await
    }

    async fn connect_with(
        settings: KafkaSettings,
        topics: Topics,
        create: bool,
    ) -> Result<KafkaLog, LogError> {
        let names: Vec<String> = Topic::ALL.iter().map(|&t| topics.name(t)).collect();
        let mut partitions = BTreeMap::new();
        let mut missing = Vec::new();
        for name in &names {
            match partition_count(&settings, name, Duration::ZERO).await? {
                0 => missing.push(name.clone()),
                count => {
                    if count != topics.partitions {
                        tracing::warn!(topic = %name, count, configured = topics.partitions, "existing topic keeps its partition count");
                    }
                    partitions.insert(name.clone(), count);
                }
            }
        }
        if let (false, Some(name)) = (create, missing.first()) {
            return Err(LogError::NotFound {
                what: format!("topic {name} at {}", settings.bootstrap),
            });
        }
        if !missing.is_empty() {
            create_topics(&settings, &topics, &missing).await?;
            for name in missing {
                let count = partition_count(&settings, &name, settings.operation_timeout).await?;
                if count == 0 {
                    return Err(LogError::Broker {
                        message: format!("topic {name} was created but has no partitions yet"),
                        retriable: true,
                    });
                }
                partitions.insert(name, count);
            }
        }
        check_partition_counts(
            partitions[&topics.name(Topic::Commands)],
            partitions[&topics.name(Topic::Events)],
        )?;
        Ok(KafkaLog {
            inner: Arc::new(Inner {
                settings,
                topics,
                partitions,
                publisher: OnceCell::new(),
                reader: Mutex::new(None),
                offset_readers: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn partition_of(&self, record: &OutgoingRecord) -> Result<u32, LogError> {
        record.partition_in(&self.inner.partitions)
    }
}

async fn create_topics(
    settings: &KafkaSettings,
    topics: &Topics,
    names: &[String],
) -> Result<(), LogError> {
    create_topics_of(
        settings,
        topics.partitions,
        topics.replication_factor,
        names,
    )
    .await
}

/// Creates the topics `names` (those that exist already are left as they are).
async fn create_topics_of(
    settings: &KafkaSettings,
    partitions: u32,
    replication_factor: u16,
    names: &[String],
) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> =
        settings.client_config().create().map_err(kafka_error)?;
    let new_topics: Vec<NewTopic> = names
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                partitions as i32,
                TopicReplication::Fixed(i32::from(replication_factor)),
            )
        })
        .collect();
    let options =
        AdminOptions::new().operation_timeout(Some(Timeout::After(settings.operation_timeout)));
    for result in admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(kafka_error)?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(LogError::Broker {
                    message: format!("creating topic {topic}: {code}"),
                    retriable: false,
                })
            }
        }
    }
    Ok(())
}

/// The partition count of `topic` (0 when it does not exist), waiting up to `wait` for a
/// just-created topic's metadata to show partitions.
async fn partition_count(
    settings: &KafkaSettings,
    topic: &str,
    wait: Duration,
) -> Result<u32, LogError> {
    let config = settings.client_config();
    let topic = topic.to_owned();
    let timeout = settings.operation_timeout;
    blocking(move || {
        let client: BaseConsumer = config.create()?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let metadata = client.fetch_metadata(Some(&topic), timeout)?;
            let count = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map_or(0, |t| t.partitions().len());
            if count > 0 || std::time::Instant::now() >= deadline {
                return Ok(count as u32);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
}

fn headers_of(message: &BorrowedMessage<'_>) -> Headers {
    let mut headers = Headers::default();
    if let Some(list) = message.headers() {
        for header in list.iter() {
            headers.push_read(header.key, header.value.unwrap_or_default());
        }
    }
    headers
}

fn stored(message: &BorrowedMessage<'_>) -> StoredRecord {
    StoredRecord {
        topic: message.topic().to_owned(),
        partition: message.partition() as u32,
        offset: message.offset() as u64,
        key: message.key().map(<[u8]>::to_vec),
        headers: headers_of(message),
        payload: message.payload().unwrap_or_default().to_vec(),
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
    }
}

fn owned_headers(headers: &Headers) -> OwnedHeaders {
    headers.0.iter().fold(
        OwnedHeaders::new_with_capacity(headers.0.len()),
        |list, (key, value)| {
            list.insert(Header {
                key: key.as_ref(),
                value: Some(value.as_ref()),
            })
        },
    )
}

fn partitions_of(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition() as u32))
        .collect()
}

/// Receives rebalance callbacks (on librdkafka's thread, inside `recv`) and queues them for
/// `poll` to hand out.
struct GroupContext {
    events: Arc<Mutex<VecDeque<ConsumerEvent>>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = partitions_of(list);
            if !revoked.is_empty() {
                lock(&self.events).push_back(ConsumerEvent::Revoked(revoked));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = partitions_of(list);
                if !assigned.is_empty() {
                    lock(&self.events).push_back(ConsumerEvent::Assigned(assigned));
                }
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A Kafka consumer's group membership (KIP-447 group metadata), in the [`GroupToken`] a
/// transaction commits its offsets with.
#[derive(Clone)]
struct Membership(Arc<rdkafka::consumer::ConsumerGroupMetadata>);

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kafka group metadata")
    }
}

struct KafkaConsumer {
    consumer: StreamConsumer<GroupContext>,
    events: Arc<Mutex<VecDeque<ConsumerEvent>>>,
    /// Records received while an assignment change was waiting to be reported.
    stash: Vec<StoredRecord>,
    /// An error met after records of a poll were taken: the records go out first (the
    /// consumer's position is already past them), the error with the next poll.
    deferred: Option<KafkaError>,
    operation_timeout: Duration,
}

impl KafkaConsumer {
    fn next_event(&mut self) -> Option<ConsumerEvent> {
        let event = lock(&self.events).pop_front()?;
        if let ConsumerEvent::Revoked(revoked) = &event {
            self.stash
                .retain(|record| !revoked.contains(&record.topic_partition()));
        }
        Some(event)
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max_wait: Duration) -> Result<ConsumerEvent, LogError> {
        if let Some(event) = self.next_event() {
            return Ok(event);
        }
        if !self.stash.is_empty() {
            return Ok(ConsumerEvent::Records(std::mem::take(&mut self.stash)));
        }
        if let Some(error) = self.deferred.take() {
            return Err(kafka_error(error));
        }
        let first = match tokio::time::timeout(max_wait, self.consumer.recv()).await {
            Err(_) => return Ok(self.next_event().unwrap_or(ConsumerEvent::Idle)),
            Ok(Err(error)) => return Err(kafka_error(error)),
            Ok(Ok(message)) => stored(&message),
        };
        let mut batch = vec![first];
        // Take what is already buffered without waiting.
        while batch.len() < POLL_BATCH_MAX {
            match tokio::time::timeout(Duration::ZERO, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(stored(&message)),
                // Returning the error now would lose the batch: the records were delivered.
                Ok(Err(error)) => {
                    self.deferred = Some(error);
                    break;
                }
                Err(_) => break,
            }
        }
        if let Some(event) = self.next_event() {
            // The assignment changed while these arrived: report that first.
            self.stash = batch;
            if let ConsumerEvent::Revoked(revoked) = &event {
                self.stash
                    .retain(|r| !revoked.contains(&r.topic_partition()));
            }
            return Ok(event);
        }
        Ok(ConsumerEvent::Records(batch))
    }

    fn group(&self) -> Result<GroupToken, LogError> {
        let metadata = self
            .consumer
            .group_metadata()
            .ok_or(LogError::InvalidState {
                operation: "group",
                state: "before the consumer joined its group",
            })?;
        Ok(GroupToken::new(Membership(Arc::new(metadata))))
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), LogError> {
        self.stash.retain(|r| &r.topic_partition() != partition);
        self.consumer
            .seek(
                &partition.topic,
                partition.partition as i32,
                Offset::Offset(offset as i64),
                self.operation_timeout,
            )
            .map_err(kafka_error)
    }
}

/// Hands a record to the producer's queue, waiting while the queue is full.
async fn send(
    producer: &FutureProducer,
    record: &OutgoingRecord,
    partition: u32,
    timeout: Duration,
) -> Result<DeliveryFuture, LogError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let future_record = FutureRecord::to(&record.topic)
            .partition(partition as i32)
            .key(record.key.as_bytes())
            .payload(record.payload.as_slice())
            .headers(owned_headers(&record.headers));
        match producer.send_result(future_record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((error, _)) => return Err(kafka_error(error)),
        }
    }
}

fn position(topic: &str, delivered: &rdkafka::producer::future_producer::Delivery) -> Position {
    Position {
        topic: topic.to_owned(),
        partition: delivered.partition as u32,
        offset: delivered.offset as u64,
    }
}

#[async_trait]
impl LogReader for KafkaLog {
    fn topics(&self) -> &Topics {
        &self.inner.topics
    }

    fn partitions(&self, topic: Topic) -> u32 {
        self.inner.partitions[&self.inner.topics.name(topic)]
    }

    async fn read(
        &self,
        partition: &TopicPartition,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let count = self.inner.partitions.get(&partition.topic);
        if count.is_none_or(|&n| partition.partition >= n) {
            return Err(LogError::UnknownPartition(partition.to_string()));
        }
        let inner = self.inner.clone();
        let partition = partition.clone();
        blocking(move || {
            let mut reader = lock(&inner.reader);
            let consumer = match reader.as_mut() {
                Some(consumer) => consumer,
                None => reader.insert(inner.reader_config().create_with_context(ReaderContext)?),
            };
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(
                &partition.topic,
                partition.partition as i32,
                Offset::Offset(from_offset as i64),
            )?;
            consumer.assign(&list)?;
            let deadline = std::time::Instant::now() + inner.settings.operation_timeout;
            let mut records: Vec<StoredRecord> = Vec::new();
            while records.len() < max_records {
                if std::time::Instant::now() >= deadline {
                    return Err(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::RequestTimedOut,
                    ));
                }
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        let record = stored(&message);
                        // Skip anything prefetched for an earlier read of the shared reader.
                        let expected = records
                            .last()
                            .map_or(from_offset, StoredRecord::next_offset);
                        if record.topic_partition() == partition && record.offset >= expected {
                            records.push(record);
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(p))) if p == partition.partition as i32 => {
                        break
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(error)) => return Err(error),
                    None => {}
                }
            }
            Ok(records)
        })
        .await
    }

    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        let name = self.inner.topics.name(topic);
        let count = self.inner.partitions[&name];
        let config = self.inner.settings.client_config();
        let timeout = self.inner.settings.operation_timeout;
        blocking(move || {
            let consumer: BaseConsumer = config.create()?;
            (0..count)
                .map(|p| {
                    consumer
                        .fetch_watermarks(&name, p as i32, timeout)
                        .map(|(_, high)| high as u64)
                })
                .collect()
        })
        .await
    }

    async fn committed_offsets(&self, group: &str, topic: Topic) -> Result<Vec<u64>, LogError> {
        let name = self.inner.topics.name(topic);
        let count = self.inner.partitions[&name];
        let timeout = self.inner.settings.operation_timeout;
        let inner = self.inner.clone();
        let group = group.to_owned();
        blocking(move || {
            let consumer = {
                let mut readers = lock(&inner.offset_readers);
                match readers.get(&group) {
                    Some(consumer) => consumer.clone(),
                    None => {
                        let mut config = inner.settings.client_config();
                        config
                            .set("group.id", &group)
                            .set("enable.auto.commit", "false");
                        let consumer: Arc<BaseConsumer> = Arc::new(config.create()?);
                        readers.insert(group.clone(), consumer.clone());
                        consumer
                    }
                }
            };
            let mut list = TopicPartitionList::new();
            for partition in 0..count {
                list.add_partition(&name, partition as i32);
            }
            let committed = consumer.committed_offsets(list, timeout)?;
            Ok((0..count)
                .map(|partition| {
                    match committed
                        .find_partition(&name, partition as i32)
                        .map(|element| element.offset())
                    {
                        Some(Offset::Offset(offset)) if offset >= 0 => offset as u64,
                        _ => 0,
                    }
                })
                .collect())
        })
        .await
    }
}

#[async_trait]
impl LogWriter for KafkaLog {
    async fn consumer(&self, group: &str, topics: &[Topic]) -> Result<Box<dyn Consumer>, LogError> {
        let events = Arc::new(Mutex::new(VecDeque::new()));
        let mut config = self.inner.settings.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("partition.assignment.strategy", "range")
            .set(
                "session.timeout.ms",
                self.inner.settings.session_timeout_ms.to_string(),
            );
        self.inner.settings.apply_overrides(&mut config);
        let consumer: StreamConsumer<GroupContext> = config
            .create_with_context(GroupContext {
                events: events.clone(),
            })
            .map_err(kafka_error)?;
        let names: Vec<String> = topics.iter().map(|&t| self.inner.topics.name(t)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(kafka_error)?;
        Ok(Box::new(KafkaConsumer {
            consumer,
            events,
            stash: Vec::new(),
            deferred: None,
            operation_timeout: self.inner.settings.operation_timeout,
        }))
    }

    async fn producer(&self, transactional_id: &str) -> Result<Box<dyn Producer>, LogError> {
        Ok(Box::new(
            transactional::KafkaProducer::open(self, transactional_id).await?,
        ))
    }

    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Position>, LogError> {
        let producer = self
            .inner
            .publisher
            .get_or_try_init(|| async {
                let mut config = self.inner.settings.client_config();
                config.set("enable.idempotence", "true").set("acks", "all");
                self.inner.settings.apply_overrides(&mut config);
                config.create::<FutureProducer>().map_err(kafka_error)
            })
            .await?;
        let timeout = self.inner.settings.operation_timeout;
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            let partition = self.partition_of(record)?;
            deliveries.push(send(producer, record, partition, timeout).await?);
        }
        let mut positions = Vec::with_capacity(records.len());
        for (record, delivery) in records.iter().zip(deliveries) {
            match delivery.await {
                Ok(Ok(delivered)) => positions.push(position(&record.topic, &delivered)),
                Ok(Err((error, _))) => return Err(kafka_error(error)),
                Err(_) => {
                    return Err(LogError::Broker {
                        message: "delivery report lost".to_owned(),
                        retriable: true,
                    })
                }
            }
        }
        Ok(positions)
    }
}

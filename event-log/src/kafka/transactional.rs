//! The transactional producer on Kafka: librdkafka's transaction calls, each with a deadline of
//! our own, and the recovery a failed call leaves for the next transaction — finishing an
//! abort, or replacing a client stuck inside librdkafka.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{kafka_error, position, send, KafkaLog, Membership};
use crate::port::{ConsumedOffsets, LogError, Producer};
use crate::record::{OutgoingRecord, Position};

/// How long past its own timeout a transaction call may take before its client is given up.
const DEADLINE_SLACK: Duration = Duration::from_secs(5);

/// What must happen before the next transaction can begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    None,
    /// An abort failed (a coordinator unreachable past the timeout): librdkafka still holds
    /// the transaction, and documents a timed-out abort as finished by calling it again.
    Abort,
    /// A call overran its deadline: the client is stuck inside librdkafka. A new client with
    /// the same transactional id fences it, and the coordinator aborts its transaction.
    Replace,
}

pub(super) struct KafkaProducer {
    log: KafkaLog,
    transactional_id: String,
    producer: FutureProducer,
    in_transaction: bool,
    recovery: Recovery,
    /// Each sent record's topic and delivery report, in send order, until awaited.
    deliveries: Vec<(String, DeliveryFuture)>,
    /// Positions of the records of this transaction acknowledged so far, in send order.
    delivered: Vec<Position>,
}

/// How a bounded call of librdkafka's ended.
enum Called<T> {
    /// It returned by its deadline, with librdkafka's answer.
    Returned(Result<T, KafkaError>),
    /// It did not return by its deadline; it goes on on its own thread.
    Overran,
    /// It could not be run or lost its answer.
    Failed(LogError),
}

/// Runs one of librdkafka's blocking transaction calls on a thread of its own and waits for
/// it until `timeout` and some slack. librdkafka should return by `timeout` but does not
/// always: `send_offsets_to_transaction` waits for a group coordinator that is down for as long
/// as it stays down (confluentinc/librdkafka#5456, open upstream; it stalled the handler in CI
/// on 2026-12-04). A call past its deadline is left on its thread, which ends whenever
/// librdkafka returns. A detached thread rather than `spawn_blocking`, because a runtime's
/// shutdown waits for its blocking tasks, and would wait for this one too.
async fn bounded<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Called<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("kafka-transaction".to_owned())
        .spawn(move || {
            let _ = answer.send(call());
        });
    if let Err(error) = spawned {
        return Called::Failed(LogError::Broker {
            message: format!("no thread for a transaction call: {error}"),
            retriable: false,
        });
    }
    match tokio::time::timeout(timeout + DEADLINE_SLACK, answered).await {
        Ok(Ok(result)) => Called::Returned(result),
        Ok(Err(_)) => Called::Failed(LogError::Broker {
            message: "a transaction call's thread ended without an answer".to_owned(),
            retriable: false,
        }),
        Err(_) => Called::Overran,
    }
}

/// A transactional client of `transactional_id`, its transactions initialised — which fences
/// any earlier client of the same id and has the coordinator abort that client's open
/// transaction.
async fn new_client(log: &KafkaLog, transactional_id: &str) -> Result<FutureProducer, LogError> {
    let settings = &log.inner.settings;
    let mut config = settings.client_config();
    config
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set(
            "transaction.timeout.ms",
            settings.transaction_timeout_ms.to_string(),
        );
    settings.apply_overrides(&mut config);
    let producer: FutureProducer = config.create().map_err(kafka_error)?;
    let init = producer.clone();
    let timeout = settings.operation_timeout;
    match bounded(timeout, move || init.init_transactions(timeout)).await {
        Called::Returned(result) => result.map_err(kafka_error).map(|()| producer),
        Called::Overran => Err(overran("init_transactions", timeout)),
        Called::Failed(error) => Err(error),
    }
}

fn overran(call: &str, timeout: Duration) -> LogError {
    LogError::Broker {
        message: format!(
            "{call} did not return within {:?}; the producer is replaced and its transaction \
             aborted",
            timeout + DEADLINE_SLACK
        ),
        retriable: true,
    }
}

impl KafkaProducer {
    pub(super) async fn open(
        log: &KafkaLog,
        transactional_id: &str,
    ) -> Result<KafkaProducer, LogError> {
        Ok(KafkaProducer {
            log: log.clone(),
            transactional_id: transactional_id.to_owned(),
            producer: new_client(log, transactional_id).await?,
            in_transaction: false,
            recovery: Recovery::None,
            deliveries: Vec::new(),
            delivered: Vec::new(),
        })
    }

    fn timeout(&self) -> Duration {
        self.log.inner.settings.operation_timeout
    }

    /// Waits for the acknowledgement of every record sent so far.
    async fn await_deliveries(&mut self) -> Result<(), LogError> {
        for (topic, delivery) in std::mem::take(&mut self.deliveries) {
            match delivery.await {
                Ok(Ok(delivered)) => self.delivered.push(position(&topic, &delivered)),
                Ok(Err((error, _))) => return Err(self.classify(kafka_error(error))),
                Err(_) => {
                    return Err(LogError::Broker {
                        message: "delivery report lost".to_owned(),
                        retriable: true,
                    })
                }
            }
        }
        Ok(())
    }

    /// Does what a failed call left to do; until it succeeds, the recovery stays pending and
    /// the next `begin` or `abort` tries again.
    async fn recover(&mut self) -> Result<(), LogError> {
        match self.recovery {
            Recovery::None => {}
            Recovery::Abort => {
                self.transaction_call("abort_transaction", |producer, timeout| {
                    producer.abort_transaction(timeout)
                })
                .await?;
            }
            Recovery::Replace => {
                self.producer = new_client(&self.log, &self.transactional_id).await?;
                tracing::warn!(
                    transactional_id = %self.transactional_id,
                    "a new Kafka producer replaced one stuck in a transaction call"
                );
            }
        }
        self.recovery = Recovery::None;
        Ok(())
    }

    /// One of librdkafka's blocking transaction calls with the operation timeout, its error
    /// classified. A call past its deadline ends the transaction here: the client is to be
    /// replaced (`Recovery::Replace`), and the error is retriable.
    async fn transaction_call(
        &mut self,
        name: &'static str,
        call: impl FnOnce(&FutureProducer, Duration) -> Result<(), KafkaError> + Send + 'static,
    ) -> Result<(), LogError> {
        let producer = self.producer.clone();
        let timeout = self.timeout();
        match bounded(timeout, move || call(&producer, timeout)).await {
            Called::Returned(result) => result.map_err(|error| self.classify(kafka_error(error))),
            Called::Overran => {
                tracing::warn!(
                    call = name,
                    transactional_id = %self.transactional_id,
                    "a Kafka transaction call overran its deadline; its producer is given up"
                );
                self.in_transaction = false;
                self.recovery = Recovery::Replace;
                Err(overran(name, timeout))
            }
            Called::Failed(error) => Err(error),
        }
    }

    /// Maps an error, looking behind it at the producer's fatal state: a fenced producer's
    /// queued records fail as "purged", and only the fatal error says it was fenced.
    fn classify(&self, error: LogError) -> LogError {
        match self.producer.client().fatal_error() {
            Some((code, reason)) => match code {
                RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch => LogError::Fenced(reason),
                _ => LogError::Broker {
                    message: format!("{reason} (fatal; the producer must be recreated)"),
                    retriable: false,
                },
            },
            None => error,
        }
    }

    fn require_transaction(&self, operation: &'static str) -> Result<(), LogError> {
        if self.in_transaction {
            Ok(())
        } else {
            Err(LogError::InvalidState {
                operation,
                state: "outside a transaction",
            })
        }
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn begin(&mut self) -> Result<(), LogError> {
        if self.in_transaction {
            return Err(LogError::InvalidState {
                operation: "begin",
                state: "while a transaction is open",
            });
        }
        self.recover().await?;
        self.producer
            .begin_transaction()
            .map_err(|error| self.classify(kafka_error(error)))?;
        self.in_transaction = true;
        self.deliveries.clear();
        self.delivered.clear();
        Ok(())
    }

    async fn send(&mut self, record: OutgoingRecord) -> Result<(), LogError> {
        self.require_transaction("send")?;
        let partition = self.log.partition_of(&record)?;
        let delivery = send(&self.producer, &record, partition, self.timeout())
            .await
            .map_err(|error| self.classify(error))?;
        self.deliveries.push((record.topic, delivery));
        Ok(())
    }

    async fn send_offsets(&mut self, offsets: ConsumedOffsets) -> Result<(), LogError> {
        self.require_transaction("send_offsets")?;
        let Some(Membership(metadata)) = offsets.group.of().cloned() else {
            return Err(LogError::Config(
                "an embedded consumer's offsets cannot commit to Kafka".to_owned(),
            ));
        };
        let mut list = TopicPartitionList::new();
        for (tp, next) in &offsets.offsets {
            list.add_partition_offset(&tp.topic, tp.partition as i32, Offset::Offset(*next as i64))
                .map_err(kafka_error)?;
        }
        self.transaction_call("send_offsets_to_transaction", move |producer, timeout| {
            producer.send_offsets_to_transaction(&list, &metadata, timeout)
        })
        .await
    }

    async fn commit(&mut self) -> Result<Vec<Position>, LogError> {
        self.require_transaction("commit")?;
        self.await_deliveries().await?;
        self.transaction_call("commit_transaction", |producer, timeout| {
            producer.commit_transaction(timeout)
        })
        .await?;
        self.in_transaction = false;
        Ok(std::mem::take(&mut self.delivered))
    }

    async fn sent_positions(&mut self) -> Result<Vec<Position>, LogError> {
        self.require_transaction("sent_positions")?;
        self.await_deliveries().await?;
        Ok(self.delivered.clone())
    }

    async fn abort(&mut self) -> Result<(), LogError> {
        self.deliveries.clear();
        self.delivered.clear();
        if self.in_transaction {
            self.in_transaction = false;
            self.recovery = Recovery::Abort;
        }
        self.recover().await
    }
}

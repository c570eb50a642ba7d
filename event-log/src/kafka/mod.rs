//! Kafka backend (in progress).

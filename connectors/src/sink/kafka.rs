//! Alerts to a Kafka topic through an idempotent producer (acks=all); key = the alert's
//! group key, or the rule name for ungrouped rules. A batch returns once the broker has
//! acknowledged (or finally refused) every record.
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{AlertSink, Rejected, SinkClosed};
use crate::alert::Alert;

/// Longest wait for the broker to acknowledge one batch.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Collects delivery reports by record index.
#[derive(Default)]
struct Reports {
    results: Mutex<Vec<(usize, Result<(), String>)>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<usize>) {
        let r = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((*index, r));
    }
}

/// An idempotent producer that writes batches to one topic and waits for their acks.
pub struct KafkaWriter {
    producer: BaseProducer<Reports>,
    topic: String,
    pending: Vec<(Option<String>, Vec<u8>)>,
}

impl KafkaWriter {
    pub fn new(
        brokers: &str,
        topic: &str,
        options: &[(String, String)],
    ) -> Result<Self, KafkaError> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000");
        for (k, v) in options {
            cc.set(k, v);
        }
        let producer = cc.create_with_context(Reports::default())?;
        Ok(KafkaWriter {
            producer,
            topic: topic.to_string(),
            pending: Vec::new(),
        })
    }

    /// Queues one record for the next [`KafkaWriter::flush`].
    pub fn enqueue(&mut self, key: Option<&str>, payload: &[u8]) {
        self.pending
            .push((key.map(str::to_string), payload.to_vec()));
    }

    /// Sends every queued record and waits for the acks; returns the records refused, with
    /// their index in queue order and why.
    pub fn flush(&mut self) -> Vec<(usize, String)> {
        let pending = std::mem::take(&mut self.pending);
        let mut failed = Vec::new();
        for (i, (key, payload)) in pending.iter().enumerate() {
            let mut record: BaseRecord<'_, str, [u8], Box<usize>> =
                BaseRecord::with_opaque_to(&self.topic, Box::new(i)).payload(payload);
            if let Some(k) = key {
                record = record.key(k);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        self.producer.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => {
                        failed.push((i, e.to_string()));
                        break;
                    }
                }
            }
        }
        if let Err(e) = self.producer.flush(FLUSH_TIMEOUT) {
            tracing::warn!(error = %e, topic = %self.topic, "Kafka flush did not finish");
        }
        let results = std::mem::take(
            &mut *self
                .producer
                .context()
                .results
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let mut acked = vec![false; pending.len()];
        for (i, r) in results {
            match r {
                Ok(()) => {
                    if let Some(a) = acked.get_mut(i) {
                        *a = true;
                    }
                }
                Err(e) => failed.push((i, e)),
            }
        }
        for (i, ok) in acked.iter().enumerate() {
            if !ok && !failed.iter().any(|(f, _)| *f == i) {
                failed.push((i, "no acknowledgement from the broker in time".into()));
            }
        }
        failed.sort_by_key(|f| f.0);
        failed
    }
}

pub struct KafkaSink {
    name: String,
    writer: KafkaWriter,
}

impl KafkaSink {
    pub fn new(brokers: &str, topic: &str, options: &[(String, String)]) -> Result<Self, String> {
        Ok(KafkaSink {
            name: format!("kafka:{topic}"),
            writer: KafkaWriter::new(brokers, topic, options)
                .map_err(|e| format!("cannot create the Kafka producer for {brokers}: {e}"))?,
        })
    }
}

impl AlertSink for KafkaSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, alerts: &[Alert]) -> Result<Vec<Rejected>, SinkClosed> {
        for a in alerts {
            self.writer
                .enqueue(Some(&a.key), a.to_json().to_string().as_bytes());
        }
        Ok(self
            .writer
            .flush()
            .into_iter()
            .map(|(index, error)| Rejected { index, error })
            .collect())
    }
}

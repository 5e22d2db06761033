//! `cepheus run`: rules over events from a file, stdin, the generator or Kafka topics;
//! alerts to sinks, bad input to the dead-letter sink (see docs/connectors.md).
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cepheus_connectors::dead_letter::{DeadLetterTarget, DeadLetters};
use cepheus_connectors::duration::parse_duration;
use cepheus_connectors::generate::{GenOptions, Kind};
use cepheus_connectors::pipeline::{Pipeline, PipelineOptions, RunEnd};
use cepheus_connectors::sink::stdout::StdoutFormat;
use cepheus_connectors::sink::webhook::WebhookOptions;
use cepheus_connectors::sink::{SinkOptions, SinkTarget};
use cepheus_connectors::source::kafka::{KafkaSourceConfig, OffsetsToCommit, TopicBinding};
use cepheus_connectors::source::{self, RunningSource};
use cepheus_engine::TypeRegistry;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    pub(crate) rules: Vec<PathBuf>,
    /// JSON-lines events; `-` reads stdin.
    #[arg(long, short, conflicts_with_all = ["generate", "kafka"])]
    pub(crate) input: Option<PathBuf>,
    /// Keep reading the input file as it grows (like `tail -F`; survives truncation and rotation).
    #[arg(long, requires = "input")]
    pub(crate) follow: bool,
    /// Generated reference events instead of a file: `KIND:N` (temperature, transfer, trade).
    #[arg(long, value_name = "KIND:N", conflicts_with = "kafka")]
    pub(crate) generate: Option<String>,
    /// Kafka bootstrap servers (`host:port,...`); consume the `--topic`s.
    #[arg(long, value_name = "BROKERS")]
    pub(crate) kafka: Option<String>,
    /// A topic to consume, `NAME[:EventType]`; without a type, the schema named like the topic.
    #[arg(long, value_name = "NAME[:TYPE]", requires = "kafka")]
    pub(crate) topic: Vec<String>,
    /// Consumer group.
    #[arg(long, default_value = "cepheus")]
    pub(crate) group: String,
    /// Start at the earliest offset when the group has no committed offset (else the latest).
    #[arg(long)]
    pub(crate) from_beginning: bool,
    /// A librdkafka setting for every Kafka client, `KEY=VALUE` (e.g. security.protocol=ssl).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) kafka_option: Vec<String>,
    /// The event type of every line (otherwise each line's `type` key names it).
    #[arg(long = "type")]
    pub(crate) event_type: Option<String>,
    /// At end of input, fire every pending timer (windows expire, batches flush).
    #[arg(long)]
    pub(crate) flush: bool,
    /// Where alerts go: stdout, file:PATH, webhook:URL or kafka:TOPIC (repeatable).
    #[arg(long, default_value = "stdout")]
    pub(crate) sink: Vec<SinkTarget>,
    /// The stdout sink's format.
    #[arg(long, value_enum, default_value_t = StdoutFormat::Json)]
    pub(crate) format: StdoutFormat,
    /// Rotate file sinks once they reach this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) rotate_bytes: Option<u64>,
    /// Total time of one webhook request.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) webhook_timeout: Duration,
    /// Attempts per alert for webhooks (retries on 5xx, 429, timeouts).
    #[arg(long, default_value_t = 6)]
    pub(crate) webhook_attempts: u32,
    /// Where bad input and undeliverable alerts go: stderr, file:PATH or kafka:TOPIC.
    #[arg(long, default_value = "stderr")]
    pub(crate) dead_letter: DeadLetterTarget,
    /// How far behind the newest event an event may arrive and still be processed.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub(crate) allowed_lateness: Duration,
    /// A partition with no record for this long stops holding the watermark back.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub(crate) idle_timeout: Duration,
    /// End the run once no event has arrived for this long.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) stop_after_idle: Option<Duration>,
    /// Records larger than this are dead letters (too_large).
    #[arg(long, default_value_t = 1 << 20)]
    pub(crate) max_record_bytes: usize,
}

pub fn run(args: RunArgs) -> ExitCode {
    // Warnings of the connectors (Kafka errors, sink retries) on stderr; RUST_LOG overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let loaded = match crate::load_or_report(&args.rules, crate::Format::Human) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match start(args, loaded.bound) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn start(args: RunArgs, bound: cepheus_engine::BoundScript) -> Result<ExitCode, String> {
    let kafka_options = args
        .kafka_option
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("--kafka-option `{kv}` must be KEY=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let sink_opts = SinkOptions {
        stdout_format: args.format,
        file_rotate_bytes: args.rotate_bytes,
        webhook: WebhookOptions {
            timeout: args.webhook_timeout,
            attempts: args.webhook_attempts,
            ..WebhookOptions::default()
        },
        kafka_brokers: args.kafka.clone(),
        kafka_options: kafka_options.clone(),
    };
    let sinks = args
        .sink
        .iter()
        .map(|t| cepheus_connectors::sink::open(t, &sink_opts))
        .collect::<Result<Vec<_>, _>>()?;
    let dead = DeadLetters::open(&args.dead_letter, args.kafka.as_deref(), &kafka_options)?;
    let opts = PipelineOptions {
        allowed_lateness: args.allowed_lateness,
        idle_timeout: args.idle_timeout,
        stop_after_idle: args.stop_after_idle,
        flush_timers_at_end: args.flush,
        max_record_bytes: args.max_record_bytes,
        ..PipelineOptions::default()
    };
    let commit = Arc::new(OffsetsToCommit::default());
    let source = open_source(&args, &bound.registry, kafka_options, commit.clone())?;
    let publish = args.kafka.is_some().then_some(commit);
    let mut pipeline = Pipeline::new(
        bound,
        args.event_type.as_deref(),
        sinks,
        dead,
        publish,
        opts,
    )
    .map_err(|e| e.to_string())?;
    let end = pipeline.run(&source);
    source.stop();
    let stats = pipeline.stats();
    let dropped = pipeline.dead_letters().total();
    let detail = pipeline.dead_letter_summary();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    eprintln!(
        "{} events processed, {dropped} dead-lettered{detail}, {} alerts",
        stats.events, stats.alerts
    );
    Ok(match end {
        RunEnd::Finished => ExitCode::SUCCESS,
        RunEnd::SinkClosed(_) => ExitCode::SUCCESS, // e.g. stdout piped into `head`
        RunEnd::SourceFailed(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
    })
}

fn open_source(
    args: &RunArgs,
    registry: &TypeRegistry,
    kafka_options: Vec<(String, String)>,
    commit: Arc<OffsetsToCommit>,
) -> Result<RunningSource, String> {
    if let Some(path) = &args.input {
        return source::file::spawn(path.clone(), args.follow)
            .map_err(|e| format!("cannot open {}: {e}", path.display()));
    }
    if let Some(spec) = &args.generate {
        let (kind, n) = spec
            .split_once(':')
            .ok_or_else(|| format!("--generate `{spec}` must be KIND:N, e.g. temperature:1000"))?;
        let kind = <Kind as clap::ValueEnum>::from_str(kind, true).map_err(|_| {
            format!("unknown workload `{kind}`; use temperature, transfer or trade")
        })?;
        let n: u64 = n
            .parse()
            .map_err(|_| format!("--generate `{spec}`: `{n}` is not a count"))?;
        return source::generator::spawn(kind, n, GenOptions::default())
            .map_err(|e| format!("cannot start the generator: {e}"));
    }
    let Some(brokers) = &args.kafka else {
        return Err(
            "no input: pass --input FILE (or - for stdin), --generate KIND:N, or \
                    --kafka BROKERS --topic NAME"
                .into(),
        );
    };
    if args.topic.is_empty() {
        return Err("--kafka needs at least one --topic NAME[:EventType]".into());
    }
    let topics = args
        .topic
        .iter()
        .map(|t| bind_topic(t, registry))
        .collect::<Result<Vec<_>, _>>()?;
    let config = KafkaSourceConfig {
        brokers: brokers.clone(),
        group: args.group.clone(),
        topics,
        from_beginning: args.from_beginning,
        options: kafka_options,
        lag: Arc::default(),
    };
    source::kafka::spawn(config, commit).map_err(|e| e.to_string())
}

/// `NAME[:EventType]`; without a type, the schema whose name is the topic's.
pub(crate) fn bind_topic(spec: &str, registry: &TypeRegistry) -> Result<TopicBinding, String> {
    let (topic, ty) = match spec.split_once(':') {
        Some((t, ty)) => (t, ty),
        None => (spec, spec),
    };
    if registry.get(ty).is_none() {
        let names: Vec<&str> = registry.iter().map(|t| t.name.as_str()).collect();
        return Err(format!(
            "topic `{topic}` has no event type: no schema is named `{ty}`; \
             bind one with --topic {topic}:EventType (the rules declare: {})",
            names.join(", ")
        ));
    }
    Ok(TopicBinding {
        topic: topic.to_string(),
        event_type: ty.to_string(),
    })
}

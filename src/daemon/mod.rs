//! `cepheus daemon`: the rules over Kafka topics for as long as it runs, with hot reload,
//! checkpoints, an admin API and a graceful stop (see docs/daemon.md).
//!
//! Threads: the engine thread ([`runner`]) owns the pipeline and is the only one touching
//! the engine; the source thread feeds it; the reloader ([`reload`]) loads rule sets off
//! the hot path; the watcher ([`watch`]) and the tokio runtime (admin API, signals) only
//! send requests. Every channel between them is bounded.
mod admin;
mod checkpoint_store;
mod config;
mod metrics;
mod reload;
mod runner;
mod shutdown;
mod status;
mod tap;
mod watch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use cepheus_connectors::dead_letter::DeadLetters;
use cepheus_connectors::duration::parse_duration;
use cepheus_connectors::pipeline::Pipeline;
use cepheus_connectors::source::kafka::{ConsumerLag, KafkaSourceConfig, OffsetsToCommit};
use cepheus_connectors::source::{self, RunningSource, TopicPartition};
use cepheus_engine::{Engine, EngineCheckpoint, TypeRegistry};

use crate::run::RunArgs;
use checkpoint_store::CheckpointStore;
use config::{DaemonFlags, Settings, SourceSettings};
use metrics::Metrics;
use reload::RuleSet;
use status::SharedStatus;
use tap::Tap;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    Human,
    /// One JSON object per line.
    Json,
}

/// `cepheus daemon --config FILE`, or the flags of `cepheus run` with `--rules DIR`.
#[derive(clap::Args)]
#[command(mut_arg("rules", |a| a.required(false).long("rules").value_name("DIR")))]
pub struct DaemonArgs {
    /// The daemon's configuration (TOML, see docs/daemon.example.toml); replaces the flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rules", "kafka", "input"])]
    config: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
    /// Where checkpoints are written (engine state and Kafka offsets).
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: Option<PathBuf>,
    /// How often a checkpoint is written.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    checkpoint_interval: Duration,
    /// The admin API's address (`/healthz`, `/metrics`, `/rules`, `/reload`, `/tap/RULE`).
    #[arg(long, default_value = config::DEFAULT_ADMIN)]
    admin: SocketAddr,
    /// Required when --admin is not a loopback address: clients send `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
    /// A per-rule limit, `RULE:max_instances=N` (repeatable).
    #[arg(long, value_name = "RULE:max_instances=N")]
    limit: Vec<String>,
    /// Log lines for people, or JSON for collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

pub fn run(args: DaemonArgs) -> ExitCode {
    init_logging(args.log_format);
    let settings = match &args.config {
        Some(path) => config::from_file(path),
        None => config::from_flags(
            &args.run,
            DaemonFlags {
                checkpoint_dir: args.checkpoint_dir.clone(),
                checkpoint_interval: args.checkpoint_interval,
                admin: args.admin,
                admin_token: args.admin_token.clone(),
                limits: args.limit.clone(),
            },
        ),
    }
    .and_then(|s| s.validate().map(|()| s));
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the daemon.");
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let set = match reload::load(&settings.rules, &settings.limits) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(1);
        }
    };
    match start(settings, set) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "The daemon stopped on an error.");
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// A restored engine and where each partition resumes.
struct Restored {
    engine: Engine,
    resume_at: HashMap<TopicPartition, i64>,
}

fn restore(store: &CheckpointStore, set: &RuleSet) -> Result<Option<Restored>, String> {
    let Some((path, data)) = store
        .load_latest()
        .map_err(|e| format!("cannot read the checkpoint directory: {e}"))?
    else {
        tracing::info!("No checkpoint yet; starting fresh.");
        return Ok(None);
    };
    let cp = EngineCheckpoint::from_bytes(&data.engine)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (engine, report) = Engine::restore(set.bound.clone(), cp)
        .map_err(|e| format!("cannot restore {}: {e}", path.display()))?;
    for r in &report.reset {
        tracing::warn!(rule = %r.statement, reason = %r.reason,
            "The rule changed while the daemon was down; its state starts fresh.");
    }
    for name in &report.dropped {
        tracing::warn!(rule = %name, "The rule was removed while the daemon was down; its state is dropped.");
    }
    tracing::info!(
        file = %path.display(),
        watermark = data.watermark,
        restored = report.restored.len(),
        partitions = data.offsets.len(),
        "Restored from the checkpoint."
    );
    let resume_at = data
        .offsets
        .iter()
        .map(|o| {
            (
                TopicPartition {
                    topic: o.topic.as_str().into(),
                    partition: o.partition,
                },
                o.next_offset,
            )
        })
        .collect();
    Ok(Some(Restored { engine, resume_at }))
}

fn start(settings: Settings, set: RuleSet) -> Result<(), String> {
    let metrics = Arc::new(Metrics::default());
    let status = Arc::new(SharedStatus::default());
    let tap = Arc::new(Tap::default());
    let commit = Arc::new(OffsetsToCommit::default());
    let mut store = None;
    let mut restored = None;
    if let Some(c) = &settings.checkpoint {
        let s = CheckpointStore::open(&c.dir).map_err(|e| {
            format!(
                "cannot open the checkpoint directory {}: {e}",
                c.dir.display()
            )
        })?;
        restored = restore(&s, &set)?;
        store = Some(s);
    }
    if let Some(r) = &restored {
        // The checkpoint's offsets are durable: the group may commit them.
        commit.publish(&r.resume_at.iter().map(|(k, v)| (k.clone(), *v)).collect());
    }
    let mut sinks = Vec::new();
    for t in &settings.sinks {
        let sink = cepheus_connectors::sink::open(t, &settings.sink_options)?;
        sinks.push(tap::CountingSink::wrap(sink, metrics.clone()));
    }
    sinks.push(tap::TapSink::boxed(tap.clone(), metrics.clone()));
    let dead = DeadLetters::open(
        &settings.dead_letter,
        settings.brokers(),
        &settings.kafka_options,
    )?;
    let registry = set.bound.registry.clone();
    // With checkpoints, offsets are committed only once a checkpoint holding their effects
    // is durable; without, as soon as their alerts are delivered (like `cepheus run`).
    let publish = settings.checkpoint.is_none().then(|| commit.clone());
    let mut pipeline = Pipeline::new(
        set.bound,
        settings.event_type.as_deref(),
        sinks,
        dead,
        publish,
        settings.pipeline.clone(),
    )
    .map_err(|e| e.to_string())?;
    let mut resume_at = HashMap::new();
    if let Some(r) = restored {
        pipeline.restore_engine(r.engine);
        resume_at = r.resume_at;
    }
    let start_at = resume_at.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let lag = Arc::new(ConsumerLag::default());
    let source = open_source(&settings, &registry, commit.clone(), start_at, lag.clone())?;

    let stop = Arc::new(AtomicBool::new(false));
    let (apply_tx, apply_rx) = std::sync::mpsc::sync_channel(1);
    let (reload_tx, reload_rx) = reload::channel();
    reload::Reloader {
        paths: settings.rules.clone(),
        limits: settings.limits.clone(),
        current_hash: set.hash.clone(),
        engine: apply_tx,
        status: status.clone(),
        metrics: metrics.clone(),
    }
    .spawn(reload_rx)
    .map_err(|e| format!("cannot start the reloader thread: {e}"))?;
    let _watcher = watch::watch(&settings.rules, reload_tx.clone()).map_err(|e| {
        format!("cannot watch the rules directory: {e}; check that it exists and is readable")
    })?;

    let engine = runner::EngineThread {
        pipeline,
        source,
        apply: apply_rx,
        stop: stop.clone(),
        metrics: metrics.clone(),
        status: status.clone(),
        checkpoints: store.map(|store| runner::Checkpointing {
            store,
            interval: settings
                .checkpoint
                .as_ref()
                .map_or(Duration::MAX, |c| c.interval),
            commit: commit.clone(),
            last: Instant::now(),
        }),
        rules: set.rules,
        rule_set_hash: set.hash,
        resume_at,
        warned_gap: HashSet::new(),
        lag,
    };
    let admin = admin::AdminState {
        metrics,
        status,
        tap,
        reload: reload_tx.clone(),
        token: settings.admin_token.as_deref().map(Arc::from),
    };
    shutdown::serve(settings.admin, admin, engine, stop, reload_tx)
}

fn open_source(
    settings: &Settings,
    registry: &TypeRegistry,
    commit: Arc<OffsetsToCommit>,
    start_at: BTreeMap<TopicPartition, i64>,
    lag: Arc<ConsumerLag>,
) -> Result<RunningSource, String> {
    match &settings.source {
        SourceSettings::File { path, follow } => source::file::spawn(path.clone(), *follow)
            .map_err(|e| format!("cannot open {}: {e}", path.display())),
        SourceSettings::Kafka {
            brokers,
            topics,
            group,
            from_beginning,
        } => {
            let topics = topics
                .iter()
                .map(|t| crate::run::bind_topic(t, registry))
                .collect::<Result<Vec<_>, _>>()?;
            let config = KafkaSourceConfig {
                brokers: brokers.clone(),
                group: group.clone(),
                topics,
                from_beginning: *from_beginning,
                options: settings.kafka_options.clone(),
                lag,
            };
            // The daemon owns every partition of its topics (no group rebalances): its
            // checkpointed state needs all of them from the first step to keep event-time
            // order. The group only holds the committed offsets.
            source::kafka::spawn_assigned(config, commit, start_at).map_err(|e| e.to_string())
        }
    }
}

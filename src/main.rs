//! The `cepheus` command line.
mod bench;
mod daemon;
mod demo;
mod diagnostic;
mod rules;
mod run;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// An engine allocates and frees an event (and often a string) per input
/// record: mimalloc's thread-local free lists do that in a fraction of glibc
/// malloc's instructions (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cepheus",
    version,
    about = "Complex event processing with Esper's EPL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and type-check .epl files (directories recursively); exit 1 on any error.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run scenario folders (case.epl, input.jsonl, expected.jsonl) and compare outputs.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print each statement's operator plan.
    Explain {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run rules over JSON-lines events and print output rows as JSON lines.
    Run(run::RunArgs),
    /// Run rules over Kafka for good: hot reload, checkpoints, admin API (docs/daemon.md).
    Daemon(daemon::DaemonArgs),
    /// Throughput of the reference queries next to hand-written loops, in one run.
    Bench(bench::BenchArgs),
    /// The shipped rules over generated events, alerts printed (no Kafka needed).
    Demo(demo::DemoArgs),
    /// An interactive EPL shell over a live stream (--generate, --input or --kafka).
    Repl(cepheus_repl::ReplArgs),
    /// Write a reference workload as JSON lines to stdout.
    Gen {
        kind: cepheus_connectors::generate::Kind,
        count: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Add a `type` key naming the event type to each line.
        #[arg(long)]
        with_type: bool,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, format } => check(&paths, format),
        Command::Test { paths } => test(&paths),
        Command::Explain { paths } => explain(&paths),
        Command::Run(args) => run::run(args),
        Command::Daemon(args) => daemon::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Repl(args) => cepheus_repl::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Gen {
            kind,
            count,
            seed,
            with_type,
        } => generate(kind, count, seed, with_type),
    }
}

fn load_or_report(paths: &[PathBuf], format: Format) -> Result<rules::Loaded, ExitCode> {
    let files = match rules::find_epl_files(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    rules::load_files(&files).map_err(|diags| {
        for d in &diags {
            match format {
                Format::Human => eprintln!("{}", d.render()),
                Format::Json => println!("{}", d.to_json()),
            }
        }
        if format == Format::Human {
            eprintln!(
                "{} error{} in {} file{}",
                diags.len(),
                plural(diags.len()),
                files.len(),
                plural(files.len())
            );
        }
        ExitCode::from(1)
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn check(paths: &[PathBuf], format: Format) -> ExitCode {
    match load_or_report(paths, format) {
        Ok(loaded) => {
            if format == Format::Human {
                println!(
                    "ok: {} statements, {} event types",
                    loaded.bound.statements.len(),
                    loaded.bound.registry.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn explain(paths: &[PathBuf]) -> ExitCode {
    match load_or_report(paths, Format::Human) {
        Ok(loaded) => {
            for plan in &loaded.bound.statements {
                println!("{}", plan.explain());
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn test(paths: &[PathBuf]) -> ExitCode {
    let cases = match scenario::find_cases(paths) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        match scenario::run_case(case) {
            scenario::Outcome::Passed => {
                passed += 1;
                println!("ok    {}", case.display());
            }
            scenario::Outcome::Failed(why) => {
                failed += 1;
                println!("FAIL  {}\n{}", case.display(), why.trim_end());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn generate(
    kind: cepheus_connectors::generate::Kind,
    count: u64,
    seed: u64,
    with_type: bool,
) -> ExitCode {
    use std::io::Write;
    let opts = cepheus_connectors::generate::GenOptions {
        seed,
        with_type,
        ..Default::default()
    };
    let mut g = cepheus_connectors::generate::Generator::new(kind, opts);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..count {
        if g.write_next(&mut out).is_err() {
            return ExitCode::SUCCESS; // stdout closed
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}

//! deploy/: the Slurm array's per-task command run here for 4 shards of a lab scan (one of them
//! twice, as a requeued task would be), then the report script over them, against the report of
//! one unsharded scan; and the Kubernetes manifests' shard wiring, which no cluster checks here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SHARDS: usize = 4;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(what: &str, cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A command as Slurm would start it: the batch script run by bash, with the array's variables,
/// from the submission directory.
fn slurm(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(repo().join("deploy/slurm").join(script))
        .env("MXRAY", env!("CARGO_BIN_EXE_mxray"))
        .env("SLURM_SUBMIT_DIR", repo())
        .env_remove("MXRAY_SHARDS")
        .env_remove("MXRAY_DEPLOY");
    c
}

fn aggregates(dir: &Path) -> Value {
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    v["aggregates"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Kept apart from the tests that time a stop (common::HEAVY): on 2 cores this one's
// scans slowed a SIGTERM'd scan past its bound in CI. The lock orders whole tests.
#[allow(clippy::await_holding_lock)]
async fn slurm_array_of_4_shards_reports_as_one_unsharded_scan() {
    let _heavy = crate::common::heavy();
    let dir = tempfile::tempdir().unwrap();
    let lab = crate::common::lab(dir.path(), 400, 13).await;
    // The lab's own scan arguments, every check on, without `scan` and `--out DIR` (the
    // per-task command adds its own).
    let one = dir.path().join("one");
    let mut args = lab.scan_args(&one);
    assert_eq!(args[0], "scan");
    let at = args.iter().position(|a| a == "--out").unwrap();
    args.drain(at..at + 2);
    args.remove(0);
    args.push("--quiet".into());

    let scanned = tokio::task::spawn_blocking({
        let (dir, one, args) = (dir.path().to_path_buf(), one.clone(), args.clone());
        move || {
            run(
                "unsharded scan",
                Command::new(env!("CARGO_BIN_EXE_mxray"))
                    .arg("scan")
                    .args(&args)
                    .arg("--out")
                    .arg(&one),
            );
            let root = dir.join("results");
            // Task 2 runs twice: the second start finds its run.json and resumes (a requeue).
            for i in [0, 1, 2, 3, 2] {
                run(
                    &format!("array task {i}"),
                    slurm("mxray-scan.sbatch")
                        .env("SLURM_ARRAY_TASK_ID", i.to_string())
                        .env("SLURM_ARRAY_TASK_COUNT", SHARDS.to_string())
                        .arg(&root)
                        .args(&args),
                );
            }
            root
        }
    })
    .await;
    lab.stop().await;
    let root = scanned.unwrap();

    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("shard-2/run.json")).unwrap()).unwrap();
    assert_eq!(
        m["resumes"].as_array().map(Vec::len),
        Some(1),
        "the second start of task 2 did not resume: {m}"
    );
    for i in 0..SHARDS {
        let m: Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("shard-{i}/run.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(m["shard"], format!("{i}/{SHARDS}"), "shard-{i}/run.json");
    }

    run(
        "mxray report over the shards",
        slurm("mxray-report.sbatch")
            .env("SLURM_CPUS_PER_TASK", "2")
            .arg(&root)
            .arg(SHARDS.to_string()),
    );
    run(
        "mxray report of the unsharded scan",
        Command::new(env!("CARGO_BIN_EXE_mxray"))
            .arg("report")
            .arg(&one)
            .arg("--out")
            .arg(&one),
    );
    let (single, merged) = (aggregates(&one), aggregates(&root.join("report")));
    assert_eq!(single["domains"]["rows"], 400);
    assert!(single["hosts"]["rows"].as_u64().unwrap() > 32, "{single}");
    if single != merged {
        let mut diffs = Vec::new();
        for t in ["domains", "hosts", "readiness"] {
            for (k, v) in single[t].as_object().unwrap() {
                if merged[t][k] != *v {
                    diffs.push(format!("{t}.{k}: unsharded {v} sharded {}", merged[t][k]));
                }
            }
        }
        panic!("the 4-shard report differs from the unsharded one: {diffs:#?}");
    }

    // A report over missing shards is refused, not a report on part of the scan.
    let o = slurm("mxray-report.sbatch")
        .arg(&root)
        .arg("5")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard-4 has no run.json"));
}

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo().join(path)).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn env_var(container: &serde_yaml::Value, name: &str) -> Option<String> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// What no cluster here can check: the Indexed Job and the report Job agree on the shard count,
/// each pod runs the per-shard command with its index, and the image has that command.
#[test]
fn kubernetes_jobs_agree_on_the_shards() {
    let scan = yaml("deploy/k8s/mxray-scan-job.yaml");
    let report = yaml("deploy/k8s/mxray-report-job.yaml");
    let spec = &scan["spec"];
    assert_eq!(scan["kind"].as_str(), Some("Job"));
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_u64().unwrap();
    assert!(spec["parallelism"].as_u64().unwrap() <= completions);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let c = &pod["containers"][0];
    assert_eq!(
        env_var(c, "SHARDS"),
        Some(completions.to_string()),
        "SHARDS != completions"
    );
    let cmd = c["args"][0].as_str().unwrap();
    assert!(
        cmd.contains("exec mxray-shard-task \"$JOB_COMPLETION_INDEX\" \"$SHARDS\" /results "),
        "{cmd}"
    );
    let mounts = |c: &serde_yaml::Value| -> Vec<String> {
        c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(mounts(c).contains(&"/results".to_string()));

    let rc = &report["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_var(rc, "SHARDS"), Some(completions.to_string()));
    let rcmd = rc["args"][0].as_str().unwrap();
    assert!(
        rcmd.contains("/results/shard-$i")
            && rcmd.contains("mxray report $dirs --out /results/report")
    );
    assert!(mounts(rc).contains(&"/results".to_string()));

    let docker = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    assert!(docker.contains("COPY deploy/shard-task.sh /usr/local/bin/mxray-shard-task"));
    assert!(docker.contains("/usr/local/bin/mxray\n"));
}

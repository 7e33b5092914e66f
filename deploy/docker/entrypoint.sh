#!/bin/sh
# Entrypoint of the fraudstream image: one command per role. Settings come from FRAUDSTREAM_*
# variables (foundation/settings.py, streaming/settings.py, scoring/serving/settings.py), never from flags here.
set -eu

spark_jars() {
  # Comma-separated: the Kafka connector, Delta and s3a jars baked into the image.
  ls "${FRAUDSTREAM_JARS_DIR}"/spark/*.jar | paste -sd, -
}

job_script() {
  python -c 'import streaming.job as job; print(job.__file__)'
}

# s3a settings for Delta tables and checkpoints on object storage. Credentials come from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and are handed to the executors through the Hadoop conf
# (Spark redacts *access.key* and *secret* in its UI and logs).
s3a_conf() {
  if [ -n "${S3A_ENDPOINT:-}" ]; then
    echo "--conf spark.hadoop.fs.s3a.endpoint=${S3A_ENDPOINT}"
    echo "--conf spark.hadoop.fs.s3a.path.style.access=true"
  fi
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
    echo "--conf spark.hadoop.fs.s3a.access.key=${AWS_ACCESS_KEY_ID}"
    echo "--conf spark.hadoop.fs.s3a.secret.key=${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY must be set with AWS_ACCESS_KEY_ID}"
  fi
}

role="${1:-scorer}"
[ "$#" -gt 0 ] && shift

case "$role" in
  scorer)
    exec python -m scoring "$@"
    ;;
  feature-job)
    # The driver runs here (client mode); executors run on the workers of FRAUDSTREAM_SPARK_MASTER.
    # FRAUDSTREAM_QUERIES (all, hot or history) picks the queries it runs, as streaming.job reads it;
    # the application is named after it, so the master tells the two drivers of deploy/ apart.
    queries="${FRAUDSTREAM_QUERIES:-all}"
    name=fraudstream-features
    [ "$queries" = all ] || name="$name-$queries"
    # shellcheck disable=SC2046  # s3a_conf prints whole "--conf k=v" words without spaces in values
    exec spark-submit \
      --master "${FRAUDSTREAM_SPARK_MASTER:?set FRAUDSTREAM_SPARK_MASTER, e.g. spark://spark-master:7077}" \
      --deploy-mode client \
      --name "$name" \
      --jars "$(spark_jars)" \
      --conf "spark.driver.host=${SPARK_DRIVER_HOST:-$(hostname)}" \
      --conf spark.driver.bindAddress=0.0.0.0 \
      --conf "spark.executor.memory=${SPARK_EXECUTOR_MEMORY:-1g}" \
      --conf "spark.cores.max=${SPARK_CORES_MAX:-2}" \
      $(s3a_conf) \
      "$@" \
      "$(job_script)"
    ;;
  spark-master)
    exec spark-class org.apache.spark.deploy.master.Master \
      --host "${SPARK_MASTER_HOST:-$(hostname)}" --port 7077 --webui-port 8080 "$@"
    ;;
  spark-worker)
    exec spark-class org.apache.spark.deploy.worker.Worker \
      --host "$(hostname)" --webui-port 8081 --work-dir /opt/fraudstream/work \
      --cores "${SPARK_WORKER_CORES:-2}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
      "${FRAUDSTREAM_SPARK_MASTER:?set FRAUDSTREAM_SPARK_MASTER, e.g. spark://spark-master:7077}" "$@"
    ;;
  driver)
    # Spark on Kubernetes (the Spark operator) starts the driver pod with
    # `driver --properties-file ... --class ... <app>`: run that through spark-submit in client mode,
    # bound to the pod IP the submission client put in SPARK_DRIVER_BIND_ADDRESS.
    exec spark-submit --deploy-mode client \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:?not started by Spark on Kubernetes}" \
      --jars "$(spark_jars)" "$@"
    ;;
  executor)
    # Executor pods get their identity in SPARK_EXECUTOR_* variables and the driver's JVM options
    # (ports, app id, security) in SPARK_JAVA_OPT_0, _1, ...; each is one JVM argument.
    set -- -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" \
      -cp "${SPARK_HOME}/jars/*:${FRAUDSTREAM_JARS_DIR}/spark/*"
    i=0
    while opt=$(printenv "SPARK_JAVA_OPT_$i"); do
      set -- "$@" "$opt"
      i=$((i + 1))
    done
    exec java "$@" org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL}" \
      --executor-id "${SPARK_EXECUTOR_ID}" \
      --cores "${SPARK_EXECUTOR_CORES}" \
      --app-id "${SPARK_APPLICATION_ID}" \
      --hostname "${SPARK_EXECUTOR_POD_IP}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME}"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac

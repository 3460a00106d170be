import type { EtcdModel } from "../model";
import { describeValue, setCommand } from "../problems";
import type { Reader } from "../reader";
import { isHostPort } from "../grammar";
import { SEED_DEFAULTS } from "../defaults";

export function readEtcd(v: Reader, value: unknown): EtcdModel | undefined {
  const obj = v.object("cluster.etcd", value ?? {}, [
    "disableSnapshots",
    "snapshotRetention",
    "snapshotScheduleCron",
    "s3",
  ]);
  if (!obj) return undefined;
  const disableSnapshots =
    v.boolean("cluster.etcd.disableSnapshots", obj.disableSnapshots) ?? SEED_DEFAULTS.disableSnapshots;
  if (disableSnapshots) {
    v.warn(
      "cluster.etcd.disableSnapshots",
      "etcd snapshots are disabled: a lost control plane cannot be restored.",
    );
  }
  const snapshotRetention =
    v.integer("cluster.etcd.snapshotRetention", obj.snapshotRetention, {
      min: 1,
      max: 10000,
      default: SEED_DEFAULTS.snapshotRetention,
    }) ?? SEED_DEFAULTS.snapshotRetention;
  const snapshotScheduleCron =
    v.cron(
      "cluster.etcd.snapshotScheduleCron",
      obj.snapshotScheduleCron,
      SEED_DEFAULTS.snapshotScheduleCron,
    ) ?? SEED_DEFAULTS.snapshotScheduleCron;
  const s3 = obj.s3 === undefined ? undefined : readS3(v, obj.s3);
  return { disableSnapshots, snapshotRetention, snapshotScheduleCron, s3 };
}

/** S3 bucket names (AWS rules, which MinIO and most S3 services follow). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function readS3(v: Reader, value: unknown): EtcdModel["s3"] {
  const p = "cluster.etcd.s3";
  const s = v.object(p, value, [
    "bucket",
    "endpoint",
    "cloudCredentialName",
    "endpointCa",
    "folder",
    "region",
    "skipSslVerify",
  ]);
  if (!s) return undefined;
  const bucket = v.string(`${p}.bucket`, s.bucket, { required: true, example: "etcd-snapshots" });
  if (bucket !== undefined && !BUCKET.test(bucket)) {
    v.error(`${p}.bucket`, "This is not an S3 bucket name.", {
      value: describeValue(bucket),
      allowed: "3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
      fix: setCommand(`${p}.bucket`, "etcd-snapshots"),
    });
  }
  const endpoint = v.string(`${p}.endpoint`, s.endpoint, {
    required: true,
    example: "s3.eu-west-1.amazonaws.com",
  });
  if (endpoint !== undefined && !isHostPort(endpoint)) {
    const withoutScheme = endpoint.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
    v.error(
      `${p}.endpoint`,
      /^[a-z]+:\/\//i.test(endpoint)
        ? "Rancher wants the S3 endpoint without a scheme (it adds https itself)."
        : "This is not HOST[:PORT].",
      {
        value: describeValue(endpoint),
        allowed: "HOST[:PORT], e.g. s3.eu-west-1.amazonaws.com or minio.example.com:9000",
        fix: setCommand(
          `${p}.endpoint`,
          isHostPort(withoutScheme) ? withoutScheme : "s3.eu-west-1.amazonaws.com",
        ),
      },
    );
  }
  const skipSslVerify = v.boolean(`${p}.skipSslVerify`, s.skipSslVerify) ?? false;
  if (skipSslVerify)
    v.warn(`${p}.skipSslVerify`, "Snapshots are uploaded without verifying the endpoint's certificate.");
  const cloudCredentialName = v.string(`${p}.cloudCredentialName`, s.cloudCredentialName, {
    example: "cattle-global-data:cc-abcde",
  });
  if (
    cloudCredentialName !== undefined &&
    !/^([a-z0-9][a-z0-9.-]*:)?[a-z0-9][a-z0-9.-]*$/.test(cloudCredentialName)
  ) {
    v.error(`${p}.cloudCredentialName`, "This is not a Rancher cloud credential id.", {
      value: describeValue(cloudCredentialName),
      allowed: "[NAMESPACE:]NAME as Rancher shows it, e.g. cattle-global-data:cc-abcde",
      fix: setCommand(`${p}.cloudCredentialName`, "cattle-global-data:cc-abcde"),
    });
  }
  const region = v.string(`${p}.region`, s.region, { example: "eu-west-1" });
  if (region !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(region)) {
    v.error(`${p}.region`, "This is not an S3 region name.", {
      value: describeValue(region),
      allowed: "lower-case letters, digits and '-', e.g. eu-west-1",
      fix: setCommand(`${p}.region`, "eu-west-1"),
    });
  }
  const endpointCa = v.caBundle(`${p}.endpointCa`, s.endpointCa);
  const folder = v.string(`${p}.folder`, s.folder, { example: "prod-rke2" });
  if (bucket === undefined || endpoint === undefined) return undefined;
  return { bucket, endpoint, cloudCredentialName, endpointCa, folder, region, skipSslVerify };
}

import * as semver from "semver";
import type { CisProfile } from "./model";

/**
 * RKE2's rules for the `profile` flag by release (rancher/rke2 `pkg/cli/cmds/profile_linux.go`):
 * the PSP-era profiles end with Kubernetes 1.24, `cis-1.23` covers 1.25–1.29, and the generic `cis`
 * arrived in the October 2023 patch releases of 1.25–1.28 and is the only one accepted from 1.30 on.
 */
export const PROFILES: readonly CisProfile[] = ["cis-1.5", "cis-1.6", "cis-1.23", "cis"];

/** First patch release of each minor line that accepts the generic `cis` profile. */
const FIRST_GENERIC_CIS_PATCH: Readonly<Record<string, string>> = {
  "1.25": "1.25.15",
  "1.26": "1.26.10",
  "1.27": "1.27.7",
  "1.28": "1.28.3",
};

/** An RKE2 release: `v<major>.<minor>.<patch>[-<pre>]+rke2r<N>`, as Rancher lists them. */
const RKE2_VERSION = /^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\+rke2r\d+$/;

export function parseRke2Version(version: string): semver.SemVer | undefined {
  if (!RKE2_VERSION.test(version)) return undefined;
  return semver.parse(version) ?? undefined;
}

/** Pod Security Admission generations need Rancher's PSA template; the PSP generations must not have one. */
export function usesPodSecurityAdmission(profile: CisProfile): boolean {
  return profile === "cis-1.23" || profile === "cis";
}

/** Whether RKE2 of this release starts with this profile. */
export function profileSupported(profile: CisProfile, version: semver.SemVer): boolean {
  // Release candidates behave like the release they lead to.
  const release = new semver.SemVer(`${version.major}.${version.minor}.${version.patch}`);
  switch (profile) {
    case "cis-1.5":
    case "cis-1.6":
      return semver.lt(release, "1.25.0");
    case "cis-1.23":
      return semver.gte(release, "1.25.0") && semver.lt(release, "1.30.0");
    case "cis": {
      if (semver.gte(release, "1.29.0")) return true;
      const firstPatch = FIRST_GENERIC_CIS_PATCH[`${release.major}.${release.minor}`];
      return firstPatch !== undefined && semver.gte(release, firstPatch);
    }
  }
}

/** The profiles RKE2 of this release accepts, newest generation last. */
export function profilesFor(version: semver.SemVer): CisProfile[] {
  return PROFILES.filter((profile) => profileSupported(profile, version));
}

/** The profile a stack gets when it names none: the seed's `cis-1.6` where RKE2 still has it, else the newest. */
export function defaultProfileFor(version: semver.SemVer): CisProfile {
  const supported = profilesFor(version);
  if (supported.includes("cis-1.6")) return "cis-1.6";
  return supported[supported.length - 1] ?? "cis";
}

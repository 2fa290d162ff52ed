/**
 * Fleet identity: broker accounts for devices, workers and monitors, as mosquitto password_file
 * entries and acl_file blocks, with the credential files each machine takes (docs/provisioning.md).
 * No MQTT here: this writes files a broker reads.
 */
export { provision, aclSpecOf, DEFAULT_OUT_DIR, type ProvisionOptions, type ProvisionResult } from "./provision.js";
export { aclRules, renderAclBlock, upsertAclBlock, aclFileUsers, ANY_WORKER, ROLES, type AclRule, type AclSpec, type Role } from "./acl.js";
export {
  generatePassword, hashPassword, verifyPassword, upsertPasswordEntry, passwordFileUsers, MOSQUITTO_ITERATIONS, PASSWORD_BYTES,
  type HashOptions, type Upserted,
} from "./password.js";
export { writeCredentials, agentEnvFile, agentDropIn, BOARD_PASSWORD_PATH, CREDENTIAL_FILES, type CredentialFiles } from "./credentials.js";
export { updateFile, replaceFileAtomic, type UpdateOptions } from "./atomic.js";
export { assertAccountName, assertAclGroup, assertAclPrefix } from "./identity.js";

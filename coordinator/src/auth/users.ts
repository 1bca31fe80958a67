import type { Database, Tx } from "../db/client";
import { audit } from "../audit";
import { AppError } from "../errors";
import { generatePassword, hashPassword } from "./passwords";

/**
 * Creates a user with a generated one-time password and returns it (the only time it is
 * shown; only its argon2id hash is stored). With `platformRole`, the user is platform staff;
 * with `tenant`, a member of that tenant with the given tenant role. Throws `conflict` when
 * the email exists, `validation` on an unknown role.
 */
export async function createUser(db: Database, input: NewUser): Promise<{ userId: string; password: string }> {
  const { password, passwordHash } = await newCredentials();
  const userId = await db.prisma.$transaction((tx) => insertUser(tx, input, passwordHash));
  return { userId, password };
}

/** Who `createUser` / `insertUser` create. */
export interface NewUser {
  email: string;
  name: string;
  platformRole?: string;
  tenant?: { id: string; role: string };
  actorUserId?: string;
}

/** A generated one-time password and its argon2id hash (slow: compute it before opening a transaction). */
export async function newCredentials(): Promise<{ password: string; passwordHash: string }> {
  const password = generatePassword();
  return { password, passwordHash: await hashPassword(password) };
}

/** The write half of `createUser`, inside the caller's transaction (a tenant and its owner commit together). Returns the user id. */
export async function insertUser(tx: Tx, input: NewUser, passwordHash: string): Promise<string> {
  const email = input.email.toLowerCase();
  if (await tx.user.findUnique({ where: { email } })) throw new AppError("conflict", `a user with email ${email} exists`);
  const platformRole = input.platformRole ? await tx.role.findFirst({ where: { name: input.platformRole, scope: "platform" } }) : null;
  if (input.platformRole && !platformRole) throw new AppError("validation", `unknown platform role ${input.platformRole}`, [{ field: "role", message: "unknown platform role" }]);
  const user = await tx.user.create({ data: { email, name: input.name, passwordHash, platformRoleId: platformRole?.id ?? null } });
  if (input.tenant) {
    // A custom role belongs to one tenant: only seeded roles and that tenant's own are assignable.
    const role = await tx.role.findFirst({ where: { name: input.tenant.role, scope: "tenant", OR: [{ tenantId: null }, { tenantId: input.tenant.id }] } });
    if (!role) throw new AppError("validation", `unknown tenant role ${input.tenant.role}`, [{ field: "role", message: "unknown tenant role" }]);
    await tx.tenantUser.create({ data: { tenantId: input.tenant.id, userId: user.id, roleId: role.id } });
  }
  await audit(tx, {
    action: "USER_CREATED", targetType: "user", targetId: user.id, actorUserId: input.actorUserId ?? null,
    tenantId: input.tenant?.id ?? null, data: { email, platformRole: input.platformRole ?? null, tenantRole: input.tenant?.role ?? null },
  });
  return user.id;
}

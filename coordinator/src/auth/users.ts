import type { Database } from "../db/client";
import { audit } from "../audit";
import { AppError } from "../errors";
import { generatePassword, hashPassword } from "./passwords";

/**
 * Creates a user with a generated one-time password and returns it (the only time it is
 * shown; only its argon2id hash is stored). With `platformRole`, the user is platform staff;
 * with `tenant`, a member of that tenant with the given tenant role. Throws `conflict` when
 * the email exists, `validation` on an unknown role.
 */
export async function createUser(
  db: Database,
  input: { email: string; name: string; platformRole?: string; tenant?: { id: string; role: string }; actorUserId?: string },
): Promise<{ userId: string; password: string }> {
  const password = generatePassword();
  const passwordHash = await hashPassword(password);
  const email = input.email.toLowerCase();
  const userId = await db.prisma.$transaction(async (tx) => {
    if (await tx.user.findUnique({ where: { email } })) throw new AppError("conflict", `a user with email ${email} exists`);
    const platformRole = input.platformRole ? await tx.role.findFirst({ where: { name: input.platformRole, scope: "platform" } }) : null;
    if (input.platformRole && !platformRole) throw new AppError("validation", `unknown platform role ${input.platformRole}`, [{ field: "role", message: "unknown platform role" }]);
    const user = await tx.user.create({ data: { email, name: input.name, passwordHash, platformRoleId: platformRole?.id ?? null } });
    if (input.tenant) {
      const role = await tx.role.findFirst({ where: { name: input.tenant.role, scope: "tenant" } });
      if (!role) throw new AppError("validation", `unknown tenant role ${input.tenant.role}`, [{ field: "role", message: "unknown tenant role" }]);
      await tx.tenantUser.create({ data: { tenantId: input.tenant.id, userId: user.id, roleId: role.id } });
    }
    await audit(tx, {
      action: "USER_CREATED", targetType: "user", targetId: user.id, actorUserId: input.actorUserId ?? null,
      tenantId: input.tenant?.id ?? null, data: { email, platformRole: input.platformRole ?? null, tenantRole: input.tenant?.role ?? null },
    });
    return user.id;
  });
  return { userId, password };
}

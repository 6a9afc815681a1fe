/**
 * Roles (docs/api.md §Authentication and roles): `super_admin` may do everything `admin` may, and
 * also destructive things (restore with drop, delete, prune).
 */
import { ForbiddenError } from '../errors.js'
import type { AppContext } from './context.js'
import type { Role } from './tokens.js'

const RANK: Record<Role, number> = { admin: 1, super_admin: 2 }

/** Throws ForbiddenError unless the request's actor has at least `role`. `what` names the action in the message. */
export function requireRole(c: AppContext, role: Role, what: string): void {
  const actor = c.get('actor')
  if (RANK[actor.role] < RANK[role]) {
    throw new ForbiddenError(`${what} needs the ${role} role; token "${actor.name}" has ${actor.role}.`, { details: { required: role, role: actor.role } })
  }
}


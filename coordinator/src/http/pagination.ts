import { z } from "zod";

/** `?page=&pageSize=` of every list route: page from 1, pageSize 1-200 (default 50). */
export const PageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});
export type PageQuery = z.infer<typeof PageQuery>;

/** Prisma's skip/take for a page. */
export function pageArgs(q: PageQuery): { skip: number; take: number } {
  return { skip: (q.page - 1) * q.pageSize, take: q.pageSize };
}

/** The list envelope: `{ data, meta: { page, pageSize, total } }`. */
export function paged<T>(data: T[], total: number, q: PageQuery) {
  return { data, meta: { page: q.page, pageSize: q.pageSize, total } };
}

/**
 * Why data is processed and on what legal basis; recorded on every audit entry (DPDPA, GDPR
 * Art. 9 and HIPAA-aligned record keeping).
 */
import { z } from 'zod';

export const purposeSchema = z.enum(['treatment', 'administration', 'security', 'audit']);
export type Purpose = z.infer<typeof purposeSchema>;

/** healthcare: GDPR Art. 9(2)(h); legal-obligation: Art. 6(1)(c); security: Art. 6(1)(f) / Art. 32. */
export const legalBasisSchema = z.enum(['healthcare', 'legal-obligation', 'security', 'contract']);
export type LegalBasis = z.infer<typeof legalBasisSchema>;

/** The kinds of entity an audit entry can point to. */
export const entityTypeSchema = z.enum(['clinic', 'branch', 'user', 'session', 'patient', 'audit']);
export type EntityType = z.infer<typeof entityTypeSchema>;

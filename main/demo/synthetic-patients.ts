/**
 * Synthetic patients for the demo clinic (`npm start -- --demo`) and the benchmarks, generated deterministically from a seed: Indian first
 * and last names from several regions (most of the clinic), international ones with accents,
 * apostrophes and hyphens, Indian mobile and landline numbers, a few foreign numbers, dates of
 * birth from 1940 on, and a medical history for some. Common names are common (Zipf weights), so
 * a prefix like "s" or a name like "Priya Sharma" matches as many rows as it would in a clinic.
 */
import type { MedicalHistory } from '../../shared/schemas/patients.js';
import { SeededRandom, ZipfPicker, seededUlid } from './prng.js';

/** Names separated by commas (names themselves may hold spaces, hyphens and apostrophes). */
function nameList(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

const INDIAN_FIRST = nameList(`
  Priya, Rahul, Amit, Anjali, Rohan, Sneha, Vikram, Pooja, Arjun, Neha, Sanjay, Kavya, Aditya, Divya, Karthik,
  Lakshmi, Suresh, Meera, Ravi, Deepika, Aarav, Ananya, Siddharth, Sunita, Venkatesh, Harish, Gurpreet,
  Harpreet, Mohammed, Fatima, Ayesha, Imran, Zoya, Abhishek, Nikhil, Shreya, Ishaan, Diya, Vivek, Swati, Manoj,
  Rekha, Ganesh, Bhavna, Prakash, Nandini, Rajesh, Sarita, Arun, Shalini, Naveen, Asha, Dinesh, Usha, Gopal,
  Tanvi, Yash, Riya, Kunal, Aishwarya, Mahesh, Jyoti, Srinivas, Padma, Balaji, Revathi, Murugan, Selvi, Anil,
  Geeta, Hemant, Kiran, Tejas, Madhuri, Omkar, Vaishnavi, Sandeep, Simran, Jaspreet, Manpreet, Farhan, Sana,
  Irfan, Nazia, Joseph, Mary, Thomas, Annamma, Subramaniam, Chitra, Raghav, Ishita, Aniruddha, Debashish,
  Sourav, Moumita, Bidisha, Tanmay
`);

const INDIAN_LAST = nameList(`
  Sharma, Patel, Singh, Kumar, Reddy, Gupta, Iyer, Nair, Rao, Das, Joshi, Menon, Khan, Verma, Mehta, Pillai,
  Kulkarni, Deshpande, Chatterjee, Banerjee, Mukherjee, Shaikh, Agarwal, Jain, Shah, Desai, Bhat, Hegde, Naidu,
  Krishnan, Subramanian, Venkataraman, Gill, Sandhu, Dhillon, Malhotra, Kapoor, Chopra, Saxena, Srivastava,
  Tiwari, Mishra, Pandey, Yadav, Chauhan, Thakur, Bose, Ghosh, Sen, Dutta, Fernandes, D'Souza, Pereira,
  Rodrigues, Qureshi, Ansari, Siddiqui, Syed, Pathak, Dubey, Kamath, Shetty, Acharya, Gowda, Murthy, Chandra,
  Varghese, Kurian, Mathew, Thomas, Goswami, Bhattacharya, Sinha, Prasad, Patil, Pawar, Jadhav, Shinde,
  Ramanathan, Sundaram, Balakrishnan, Natarajan, Arora, Khanna, Bajaj, Sethi
`);

const INTERNATIONAL_FIRST = nameList(`
  José, Maria, John, Emma, Zoë, Chloé, François, Renée, Jürgen, Björn, Søren, Łukasz, Ágnes, Anne-Marie,
  Jean-Luc, Noël, Inés, Mónica, Raúl, Sébastien, Hélène, Jiří, Siobhán, Seán, Olivia, James, Liam, Sophia, Wei,
  Mei, Hiroshi, Yuki, Minh, Thảo, Oluwaseun, Chidi, Amara, Mikhail, Olga, Ahmed, Leila, Dmitri, Ewa,
  Małgorzata, Çağla, Gökhan
`);

const INTERNATIONAL_LAST = nameList(`
  Smith, García, Müller, Álvarez, Nuñez, O'Brien, Nguyễn, Kim, Wang, Chen, Johnson, Williams, Brown, Okafor,
  Adeyemi, Kowalski, Dvořák, Jørgensen, Lefèvre, Gonçalves, Schröder, Łukaszewicz, Öztürk, Yılmaz, Petrov,
  Ivanova, Tanaka, Sato, Rossi, Bianchi, Fernández, López, Martínez, Dubois, Moreau, Van der Berg, MacDonald,
  Smith-Jones, Hernández, Ó Súilleabháin
`);

const ALLERGIES = ['Penicillin', 'Latex', 'Lidocaine', 'Ibuprofen', 'Aspirin', 'Sulfa drugs', 'Chlorhexidine'];

/** A condition, who can plausibly have it, and what it is usually treated with at a usual adult dose. */
interface ConditionProfile {
  readonly name: string;
  /** Age in whole years, inclusive, at the generator's base time. */
  readonly minAge: number;
  readonly maxAge: number;
  /** Only recorded for this sex (pregnancy); otherwise any. */
  readonly sex?: 'female';
  /** Treatments, one of which a patient with the condition may take; empty when none is usual. */
  readonly medications: ReadonlyArray<{ readonly name: string; readonly doses: readonly string[] }>;
}

/**
 * A clinic owner reads these records: a condition only where age and sex allow it (no pregnant
 * man, no 8-year-old with a heart valve replacement), and a drug only with its condition, at a
 * dose a prescriber would write. Pregnancy stops at 42 so the record still reads true a few years
 * after the base time the ages are taken at.
 */
const CONDITION_PROFILES: readonly ConditionProfile[] = [
  {
    name: 'Type 2 diabetes',
    minAge: 30,
    maxAge: 90,
    medications: [{ name: 'Metformin', doses: ['500 mg twice daily', '850 mg twice daily', '1000 mg twice daily'] }],
  },
  {
    name: 'Hypertension',
    minAge: 30,
    maxAge: 90,
    medications: [{ name: 'Amlodipine', doses: ['5 mg once daily', '10 mg once daily'] }],
  },
  {
    name: 'High cholesterol',
    minAge: 35,
    maxAge: 90,
    medications: [{ name: 'Atorvastatin', doses: ['10 mg at night', '20 mg at night', '40 mg at night'] }],
  },
  {
    name: 'Asthma',
    minAge: 5,
    maxAge: 90,
    medications: [{ name: 'Salbutamol inhaler', doses: ['100 mcg, 2 puffs as needed'] }],
  },
  {
    name: 'Hypothyroidism',
    minAge: 18,
    maxAge: 90,
    medications: [{ name: 'Levothyroxine', doses: ['50 mcg once daily', '75 mcg once daily', '100 mcg once daily'] }],
  },
  {
    name: 'Heart valve replacement',
    minAge: 40,
    maxAge: 90,
    medications: [{ name: 'Warfarin', doses: ['3 mg once daily', '5 mg once daily'] }],
  },
  {
    name: 'Coronary stent',
    minAge: 45,
    maxAge: 90,
    medications: [{ name: 'Clopidogrel', doses: ['75 mg once daily'] }],
  },
  {
    name: 'Osteoporosis',
    minAge: 55,
    maxAge: 95,
    sex: 'female',
    medications: [{ name: 'Alendronate', doses: ['70 mg once weekly'] }],
  },
  {
    name: 'Pregnancy',
    minAge: 18,
    maxAge: 42,
    sex: 'female',
    medications: [{ name: 'Folic acid', doses: ['5 mg once daily'] }],
  },
];

/** One synthetic patient, as inserted into the patients table. */
export interface SyntheticPatient {
  readonly id: string;
  readonly patientNumber: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly dateOfBirth: string | null;
  readonly sex: 'female' | 'male' | 'other' | 'unknown';
  readonly phone: string | null;
  readonly email: string | null;
  /** Present for about a third of patients. */
  readonly medical: Pick<MedicalHistory, 'allergies' | 'conditions' | 'medications'> | null;
}

const indianFirst = new ZipfPicker(INDIAN_FIRST, 0.7);
const indianLast = new ZipfPicker(INDIAN_LAST, 0.9);
const internationalFirst = new ZipfPicker(INTERNATIONAL_FIRST, 0.6);
const internationalLast = new ZipfPicker(INTERNATIONAL_LAST, 0.6);

function phoneFor(random: SeededRandom): string | null {
  const kind = random.next();
  if (kind < 0.04) return null;
  // Indian mobiles start with 6-9; written with and without the country code and spaces.
  if (kind < 0.8) {
    const number = `${random.between(6, 9)}${random.digits(9)}`;
    const style = random.int(3);
    if (style === 0) return `+91 ${number.slice(0, 5)} ${number.slice(5)}`;
    if (style === 1) return number;
    return `0${number}`;
  }
  if (kind < 0.93)
    return `0${random.pick(['80', '22', '44', '40', '11', '33'])} ${random.between(2, 6)}${random.digits(7)}`;
  return random.pick([
    `+44 7${random.digits(3)} ${random.digits(6)}`,
    `+1 ${random.digits(3)} ${random.digits(3)} ${random.digits(4)}`,
  ]);
}

function dateOfBirthFor(random: SeededRandom): string | null {
  if (random.next() < 0.03) return null;
  const year = random.between(1940, 2023);
  const month = random.between(1, 12);
  const day = random.between(1, 28);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Whole years from a YYYY-MM-DD date of birth to the reference day (UTC). */
function ageAt(dateOfBirth: string, reference: Date): number {
  const [year, month, day] = dateOfBirth.split('-').map(Number) as [number, number, number];
  const beforeBirthday =
    reference.getUTCMonth() + 1 < month || (reference.getUTCMonth() + 1 === month && reference.getUTCDate() < day);
  return reference.getUTCFullYear() - year - (beforeBirthday ? 1 : 0);
}

function medicalFor(
  random: SeededRandom,
  sex: SyntheticPatient['sex'],
  dateOfBirth: string | null,
  reference: Date,
): SyntheticPatient['medical'] {
  if (random.next() >= 0.33) return null;
  const allergies =
    random.next() < 0.5 ? [{ substance: random.pick(ALLERGIES), severity: 'moderate' as const, reaction: null }] : [];
  // Without a date of birth nothing age-bound can be claimed, so only allergies are recorded.
  const age = dateOfBirth === null ? null : ageAt(dateOfBirth, reference);
  const eligible =
    age === null
      ? []
      : CONDITION_PROFILES.filter(
          (profile) =>
            age >= profile.minAge && age <= profile.maxAge && (profile.sex === undefined || profile.sex === sex),
        );
  const profile = eligible.length > 0 && random.next() < 0.6 ? random.pick(eligible) : null;
  const treatment = profile !== null && profile.medications.length > 0 && random.next() < 0.8;
  const medication = treatment ? random.pick(profile.medications) : null;
  return {
    allergies,
    conditions: profile === null ? [] : [{ name: profile.name, note: null }],
    medications: medication === null ? [] : [{ name: medication.name, dose: random.pick(medication.doses) }],
  };
}

/**
 * Generates `count` patients numbered P000001 on; the same seed gives the same patients. Ages
 * (for which conditions fit) are taken at `baseTimeMs`, which also seeds the ids' time part.
 */
export function generatePatients(count: number, seed: string, baseTimeMs: number): SyntheticPatient[] {
  const random = new SeededRandom(seed);
  const reference = new Date(baseTimeMs);
  const patients: SyntheticPatient[] = [];
  for (let i = 1; i <= count; i++) {
    const international = random.next() < 0.22;
    const firstName = (international ? internationalFirst : indianFirst).pick(random);
    const lastName = (international ? internationalLast : indianLast).pick(random);
    const sexRoll = random.next();
    const sex = sexRoll < 0.49 ? 'female' : sexRoll < 0.97 ? 'male' : sexRoll < 0.98 ? 'other' : 'unknown';
    const dateOfBirth = dateOfBirthFor(random);
    patients.push({
      id: seededUlid(random, baseTimeMs + i),
      patientNumber: `P${String(i).padStart(6, '0')}`,
      firstName,
      lastName,
      dateOfBirth,
      sex,
      phone: phoneFor(random),
      email: random.next() < 0.4 ? `${firstName.toLowerCase().replace(/[^a-z]/g, '')}${i}@example.in` : null,
      medical: medicalFor(random, sex, dateOfBirth, reference),
    });
  }
  return patients;
}

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
const MEDICATIONS = [
  'Warfarin',
  'Metformin',
  'Amlodipine',
  'Atorvastatin',
  'Alendronate',
  'Clopidogrel',
  'Levothyroxine',
];
const CONDITIONS = ['Diabetes', 'Hypertension', 'Asthma', 'Hypothyroidism', 'Pregnancy', 'Heart valve replacement'];

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

function medicalFor(random: SeededRandom): SyntheticPatient['medical'] {
  if (random.next() >= 0.33) return null;
  return {
    allergies:
      random.next() < 0.5 ? [{ substance: random.pick(ALLERGIES), severity: 'moderate' as const, reaction: null }] : [],
    conditions: random.next() < 0.6 ? [{ name: random.pick(CONDITIONS), note: null }] : [],
    medications: random.next() < 0.5 ? [{ name: random.pick(MEDICATIONS), dose: '5 mg' }] : [],
  };
}

/** Generates `count` patients numbered P000001 on; the same seed gives the same patients. */
export function generatePatients(count: number, seed: string, baseTimeMs: number): SyntheticPatient[] {
  const random = new SeededRandom(seed);
  const patients: SyntheticPatient[] = [];
  for (let i = 1; i <= count; i++) {
    const international = random.next() < 0.22;
    const firstName = (international ? internationalFirst : indianFirst).pick(random);
    const lastName = (international ? internationalLast : indianLast).pick(random);
    const sexRoll = random.next();
    patients.push({
      id: seededUlid(random, baseTimeMs + i),
      patientNumber: `P${String(i).padStart(6, '0')}`,
      firstName,
      lastName,
      dateOfBirth: dateOfBirthFor(random),
      sex: sexRoll < 0.49 ? 'female' : sexRoll < 0.97 ? 'male' : sexRoll < 0.98 ? 'other' : 'unknown',
      phone: phoneFor(random),
      email: random.next() < 0.4 ? `${firstName.toLowerCase().replace(/[^a-z]/g, '')}${i}@example.in` : null,
      medical: medicalFor(random),
    });
  }
  return patients;
}

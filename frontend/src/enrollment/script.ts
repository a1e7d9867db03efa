// What players read aloud while their voice is recorded: about two minutes at a relaxed pace, with
// a mix of questions, exclamations and numbers so the voice model hears a range of intonation.

export const READING_SCRIPT: string[] = [
  'Hello! This is my voice, and in a few minutes somebody else is going to borrow it. Please be kind to it.',
  'I grew up in a house with a creaky staircase, a garden full of tomatoes, and a cat who believed she owned all of us. On Sunday mornings we made pancakes, and somebody always burned the first one.',
  'Do you remember the first concert you ever went to? Mine was loud, crowded and wonderful, and I lost my voice from singing along to every single song.',
  'If I could travel anywhere tomorrow, I would take a slow train along the coast, watching the sea go by, stopping in small towns to eat ice cream and buy postcards I would never send.',
  'Here are some numbers, read slowly: three, seventeen, forty-two, one hundred and eight, two thousand and twenty-six.',
  'What a surprise! Really? No way. I told you so. Wait a second, let me think about that.',
  'My favourite way to spend a rainy afternoon is with a thick book, a blanket, and a large mug of tea. Sometimes I fall asleep before the end of the chapter, and that is perfectly fine.',
  'The quick brown fox jumps over the lazy dog, while the five boxing wizards jump quickly, and a jolly sphinx quietly judges them all.',
  'If you are listening to this voice and it does not sound quite like me, that is the whole point of the game. Now, who do you think is really inside this body?',
];
